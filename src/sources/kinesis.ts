import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda'
import { IdempotencyKeyInvalidError } from '../errors.js'
import { type BatchEntry, createBatchRunner, describeInput, type RecordIdempotencyOptions } from './batch.js'
import { base64Bytes, decodeBytes } from './payload.js'

/**
 * Options of {@link idempotentKinesisHandler}: the options of every per-record handler, with the
 * decoded `data` as the payload.
 *
 * - `key`: default `record.eventID` (`shardId-...:sequenceNumber`), the same on every redelivery.
 * - `fingerprint`: default the decoded `data`; never `approximateArrivalTimestamp` or the sequence
 *   number.
 * - `concurrency`: shards processed at once (default 10); the records of one shard run in order.
 *
 * @example
 * idempotentKinesisHandler<Click>(recordClick, { store, key: (click) => click.clickId })
 */
export interface KinesisIdempotencyOptions<TData = unknown>
  extends RecordIdempotencyOptions<TData, KinesisStreamRecord> {}

/**
 * Makes a Kinesis Data Streams consumer idempotent per record and reports partial batch failures
 * with the failed record's `sequenceNumber`, the identifier Lambda reads for Kinesis. The event
 * source mapping needs `ReportBatchItemFailures`.
 *
 * - `handler(data, record, context)`: `data` is `record.kinesis.data` base64-decoded, then
 *   JSON-parsed when it is JSON, else the UTF-8 string, else the bytes (`Uint8Array`). A record
 *   whose `data` is not base64 fails like a record that throws.
 * - The records of one shard run in order (the shard is the `eventID` prefix). At a shard's first
 *   failure that record is reported and nothing after it in the shard runs: Lambda retries from
 *   the lowest reported sequence number, and the records before it replay. Shards run
 *   concurrently, at most `concurrency` at once.
 * - Records of one batch with the same key run once: the others replay its outcome.
 *
 * @example
 * export const handler = idempotentKinesisHandler<Click>(async (click) => recordClick(click), {
 *   store,
 *   key: (click) => click.clickId,
 * })
 */
export const idempotentKinesisHandler = <TData = unknown>(
  handler: (data: TData, record: KinesisStreamRecord, context: Context) => Promise<unknown>,
  options: KinesisIdempotencyOptions<TData>,
): ((event: KinesisStreamEvent, context: Context) => Promise<KinesisStreamBatchResponse>) => {
  const run = createBatchRunner<TData, KinesisStreamRecord>(handler, options, {
    label: 'Kinesis',
    defaultKey: (_data, record) => record.eventID,
    defaultFingerprint: (data) => data,
    sequenceName: 'Kinesis shard',
    reportSkipped: false,
  })
  const log = options.logger === false ? undefined : (options.logger ?? console)

  const toEntry = (record: KinesisStreamRecord): BatchEntry<TData, KinesisStreamRecord> => {
    const { sequenceNumber } = record.kinesis
    const entry = {
      record,
      sequence: `${record.eventSourceARN ?? ''}|${shardOf(record.eventID)}`,
      logFields: { eventID: record.eventID, sequenceNumber },
    }
    try {
      return {
        ...entry,
        decoded: { payload: decodeBytes(base64Bytes(record.kinesis.data, 'kinesis.data')) as TData },
      }
    } catch (error) {
      log?.warn('lambda-idempotency: the Kinesis record data is not base64; the record fails', {
        ...entry.logFields,
        outcome: 'invalid-data',
        error: error instanceof Error ? error.message : String(error),
      })
      return { ...entry, decoded: undefined }
    }
  }

  const idempotentKinesis = async (
    event: KinesisStreamEvent,
    context: Context,
  ): Promise<KinesisStreamBatchResponse> => {
    const failed = await run(checkRecords(event).map(toEntry), context)
    const ids = new Set(failed.map((entry) => entry.record.kinesis.sequenceNumber))
    return { batchItemFailures: [...ids].map((itemIdentifier) => ({ itemIdentifier })) }
  }
  return idempotentKinesis
}

// eventID is `shardId-000000000000:<sequenceNumber>`: the records of a shard share the prefix.
const shardOf = (eventID: string): string => eventID.slice(0, Math.max(0, eventID.lastIndexOf(':')))

const checkRecords = (event: KinesisStreamEvent): KinesisStreamRecord[] => {
  const records = (event as { Records?: unknown } | null | undefined)?.Records
  if (!Array.isArray(records)) {
    throw new IdempotencyKeyInvalidError(
      'IDEMPOTENCY_INPUT_INVALID',
      `idempotentKinesisHandler expects a Kinesis event with a Records array, got ${describeInput(event)}`,
    )
  }
  records.forEach((record: unknown, index) => {
    const candidate = record as Partial<KinesisStreamRecord> | null
    if (typeof candidate?.eventID !== 'string' || typeof candidate.kinesis?.sequenceNumber !== 'string') {
      throw new IdempotencyKeyInvalidError(
        'IDEMPOTENCY_INPUT_INVALID',
        `Kinesis record ${index} has no eventID or kinesis.sequenceNumber, got ${describeInput(record)}`,
      )
    }
  })
  return records as KinesisStreamRecord[]
}
