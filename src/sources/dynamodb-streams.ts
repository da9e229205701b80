import type { Context, DynamoDBBatchResponse, DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda'
import { IdempotencyConfigError, IdempotencyKeyInvalidError } from '../errors.js'
import { canonicalJson } from '../key.js'
import { type BatchEntry, createBatchRunner, describeInput, type RecordIdempotencyOptions } from './batch.js'

/** A DynamoDB Streams record's change, its images unmarshalled to plain objects. */
export interface DynamoDBStreamChange<TItem = Record<string, unknown>> {
  /** `INSERT`, `MODIFY` or `REMOVE`. */
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE'
  /** The item's primary key, e.g. `{ orderId: 'ord_1' }`. */
  keys: Record<string, unknown>
  /** The item after the change; absent for `REMOVE` and for `KEYS_ONLY` or `OLD_IMAGE` streams. */
  newImage?: TItem
  /** The item before the change; present with `OLD_IMAGE` or `NEW_AND_OLD_IMAGES` streams. */
  oldImage?: TItem
}

/**
 * Options of {@link idempotentDynamoDBStreamHandler}: the options of every per-record handler,
 * with the unmarshalled change as the payload.
 *
 * - `key`: default `record.eventID`, the same on every redelivery of the record.
 * - `fingerprint`: default the change (`eventName` and the `Keys`, `NewImage` and `OldImage`
 *   attribute maps); never `SequenceNumber`, `ApproximateCreationDateTime` or `SizeBytes`.
 * - `concurrency`: items processed at once (default 10); the records of one item run in order.
 *
 * @example
 * idempotentDynamoDBStreamHandler<Order>(sendReceipt, { store, key: (change) => change.keys.orderId })
 */
export interface DynamoDBStreamIdempotencyOptions<TItem = Record<string, unknown>>
  extends RecordIdempotencyOptions<DynamoDBStreamChange<TItem>, DynamoDBRecord> {}

type Unmarshall = (item: Record<string, unknown>) => Record<string, unknown>

// @aws-sdk/util-dynamodb is an optional peer that only this handler needs: it is loaded on first
// use, so the other entry points work without it. A module load, not per-request state.
let unmarshallModule: Promise<Unmarshall> | undefined
const loadUnmarshall = (): Promise<Unmarshall> => {
  unmarshallModule ??= import('@aws-sdk/util-dynamodb').then(
    (module) => (item) => module.unmarshall(item as never) as Record<string, unknown>,
    (error: unknown) => {
      unmarshallModule = undefined
      throw Object.assign(
        new IdempotencyConfigError(
          'handler',
          'installed with its peer @aws-sdk/util-dynamodb (npm install @aws-sdk/util-dynamodb)',
          'idempotentDynamoDBStreamHandler',
        ),
        { cause: error },
      )
    },
  )
  return unmarshallModule
}

/**
 * Makes a DynamoDB Streams consumer idempotent per record and reports partial batch failures with
 * the failed record's `dynamodb.SequenceNumber`, the identifier Lambda reads for DynamoDB
 * Streams. The event source mapping needs `ReportBatchItemFailures`; this handler needs the
 * optional peer `@aws-sdk/util-dynamodb`.
 *
 * - `handler(change, record, context)`: `change` holds `eventName` and the `Keys`, `NewImage` and
 *   `OldImage` unmarshalled to plain objects (`unmarshall` of `@aws-sdk/util-dynamodb`: numbers
 *   are `number`, integers beyond `Number.MAX_SAFE_INTEGER` are `bigint`, sets are `Set`, binary
 *   values stay the base64 strings Lambda delivers). A record whose images cannot be unmarshalled
 *   (a decimal beyond a double's precision) fails like a record that throws.
 * - The records of one item (same table and key) run in order, the order DynamoDB Streams
 *   guarantees; at an item's first failure that record is reported and nothing after it for that
 *   item runs. Lambda retries from the lowest reported sequence number and the records before it
 *   replay. Different items run concurrently, at most `concurrency` at once. (A batch comes from
 *   one shard, and the event does not name the shard: items are the ordering unit it shows.)
 * - Records of one batch with the same key run once: the others replay its outcome.
 *
 * @example
 * export const handler = idempotentDynamoDBStreamHandler<Order>(
 *   async (change) => (change.eventName === 'INSERT' ? sendReceipt(change.newImage) : undefined),
 *   { store, key: (change) => change.keys.orderId },
 * )
 */
export const idempotentDynamoDBStreamHandler = <TItem = Record<string, unknown>>(
  handler: (
    change: DynamoDBStreamChange<TItem>,
    record: DynamoDBRecord,
    context: Context,
  ) => Promise<unknown>,
  options: DynamoDBStreamIdempotencyOptions<TItem>,
): ((event: DynamoDBStreamEvent, context: Context) => Promise<DynamoDBBatchResponse>) => {
  const run = createBatchRunner<DynamoDBStreamChange<TItem>, DynamoDBRecord>(handler, options, {
    label: 'DynamoDB Streams',
    defaultKey: (_change, record) => record.eventID,
    // The images as delivered (attribute maps of strings): an unmarshalled image may hold a
    // bigint or a Set, which canonical JSON cannot hash faithfully.
    defaultFingerprint: (change, record) => ({
      eventName: change.eventName,
      keys: record.dynamodb?.Keys,
      newImage: record.dynamodb?.NewImage,
      oldImage: record.dynamodb?.OldImage,
    }),
    sequenceName: 'DynamoDB Streams item',
    reportSkipped: false,
  })
  const log = options.logger === false ? undefined : (options.logger ?? console)
  // Starts loading now, so a missing peer shows at the first invocation, not a record later.
  loadUnmarshall().catch(() => {})

  const toEntry = (
    record: DynamoDBRecord,
    unmarshall: Unmarshall,
  ): BatchEntry<DynamoDBStreamChange<TItem>, DynamoDBRecord> => {
    const stream = record.dynamodb ?? {}
    const entry = {
      record,
      sequence: `${record.eventSourceARN ?? ''}|${canonicalJson(stream.Keys ?? null)}`,
      logFields: { eventID: record.eventID, sequenceNumber: stream.SequenceNumber },
    }
    try {
      if (!isEventName(record.eventName))
        throw new TypeError(`eventName is ${describeInput(record.eventName)}`)
      const change: DynamoDBStreamChange<TItem> = {
        eventName: record.eventName,
        keys: unmarshall(stream.Keys ?? {}),
      }
      if (stream.NewImage !== undefined) change.newImage = unmarshall(stream.NewImage) as TItem
      if (stream.OldImage !== undefined) change.oldImage = unmarshall(stream.OldImage) as TItem
      return { ...entry, decoded: { payload: change } }
    } catch (error) {
      // The error names the attribute type or number, never the item's values.
      log?.warn('lambda-idempotency: the DynamoDB Streams record cannot be unmarshalled; the record fails', {
        ...entry.logFields,
        outcome: 'invalid-image',
        error: error instanceof Error ? error.name : typeof error,
      })
      return { ...entry, decoded: undefined }
    }
  }

  const idempotentDynamoDBStream = async (
    event: DynamoDBStreamEvent,
    context: Context,
  ): Promise<DynamoDBBatchResponse> => {
    const records = checkRecords(event)
    const unmarshall = await loadUnmarshall()
    const failed = await run(
      records.map((record) => toEntry(record, unmarshall)),
      context,
    )
    const ids = new Set(failed.map((entry) => entry.record.dynamodb?.SequenceNumber as string))
    return { batchItemFailures: [...ids].map((itemIdentifier) => ({ itemIdentifier })) }
  }
  return idempotentDynamoDBStream
}

const isEventName = (value: unknown): value is DynamoDBStreamChange['eventName'] =>
  value === 'INSERT' || value === 'MODIFY' || value === 'REMOVE'

const checkRecords = (event: DynamoDBStreamEvent): DynamoDBRecord[] => {
  const records = (event as { Records?: unknown } | null | undefined)?.Records
  if (!Array.isArray(records)) {
    throw new IdempotencyKeyInvalidError(
      'IDEMPOTENCY_INPUT_INVALID',
      `idempotentDynamoDBStreamHandler expects a DynamoDB Streams event with a Records array, got ${describeInput(event)}`,
    )
  }
  records.forEach((record: unknown, index) => {
    const candidate = record as DynamoDBRecord | null
    if (typeof candidate?.eventID !== 'string' || typeof candidate.dynamodb?.SequenceNumber !== 'string') {
      throw new IdempotencyKeyInvalidError(
        'IDEMPOTENCY_INPUT_INVALID',
        `DynamoDB Streams record ${index} has no eventID or dynamodb.SequenceNumber, got ${describeInput(record)}`,
      )
    }
  })
  return records as DynamoDBRecord[]
}
