import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda'
import { IdempotencyKeyInvalidError } from '../errors.js'
import type { IdempotencyOptions } from '../options.js'
import { type BatchEntry, createBatchRunner, describeInput } from './batch.js'

/**
 * Options of {@link idempotentSqsHandler}. `store`, `ttlSeconds`, `leaseMs`, `inProgress`,
 * `localCache`, `now`, `logger`, `onEvent`, `abandoned` and `compressAboveBytes` mean what they
 * mean for `idempotent()`.
 *
 * @example
 * idempotentSqsHandler(createOrder, { store, key: (body) => body.eventId, concurrency: 5 })
 */
export interface SqsIdempotencyOptions<TBody = unknown>
  extends Pick<
    IdempotencyOptions,
    | 'store'
    | 'ttlSeconds'
    | 'leaseMs'
    | 'inProgress'
    | 'localCache'
    | 'now'
    | 'logger'
    | 'onEvent'
    | 'abandoned'
    | 'compressAboveBytes'
  > {
  /**
   * Returns a record's idempotency key from its parsed body, for example the event id a producer
   * puts in the message, so that a producer that sends the same event twice is caught as well.
   * A selector that throws, or returns no key, fails that record only.
   * @default the record's `messageId` (catches SQS redeliveries)
   */
  key?: (body: TBody, record: SQSRecord) => unknown
  /**
   * Returns what must be equal when a key comes again; a different value fails the record with an
   * `IdempotencyKeyReusedError` (it is not run). `false` turns the check off.
   * @default the parsed body and the `messageAttributes`; never per-delivery fields such as
   *   `receiptHandle` or `attributes.ApproximateReceiveCount`
   */
  fingerprint?: ((body: TBody, record: SQSRecord) => unknown) | false
  /**
   * Separates keys of different tenants: the same key in two scopes is two records.
   * @default '' (one scope per function)
   */
  scope?: string | ((body: TBody, record: SQSRecord, context: Context | undefined) => string | undefined)
  /**
   * The most records processed at once. Records of a standard queue run concurrently up to this
   * bound; in a FIFO queue, message groups run concurrently up to it, each group in order.
   * @default 10
   */
  concurrency?: number
  /**
   * A stable name that is part of every record id: set it when one Lambda function has two SQS
   * handlers whose keys could meet.
   * @default ''
   */
  name?: string
}

/**
 * Makes an SQS consumer idempotent per record and reports partial batch failures. Each record is
 * claimed, run, and completed or released on its own, so one failing record never re-runs the
 * ones that succeeded: they replay when the batch is redelivered. The returned function is a
 * Lambda handler and can also be wrapped by `middy()`. The event source mapping needs
 * `ReportBatchItemFailures`.
 *
 * - The body is parsed as JSON once and handed to `handler`, `key` and `fingerprint`; a body that
 *   is not JSON fails that record only, with a log line that names its `messageId`, never the body.
 * - Standard queues: records run concurrently, at most `concurrency` at once.
 * - FIFO queues (`eventSourceARN` ending in `.fifo`): each `MessageGroupId` runs in order; at its
 *   first failure that record and every later record of the group are reported as failures
 *   without running; other groups go on.
 * - Records of one batch with the same key run one after the other: the first runs, the others
 *   replay its outcome and count as successes.
 * - A record's claim lease is the invocation's remaining time when the record is claimed
 *   (`context.getRemainingTimeInMillis()`; `leaseMs` without a context): a record cannot outlive
 *   its invocation, and after a timeout the redelivered batch takes abandoned claims over.
 *
 * @example
 * export const handler = idempotentSqsHandler<OrderPaid>(async (body) => createOrder(body), {
 *   store,
 *   key: (body) => body.eventId,
 * })
 */
export const idempotentSqsHandler = <TBody = unknown>(
  handler: (body: TBody, record: SQSRecord, context: Context) => Promise<unknown>,
  options: SqsIdempotencyOptions<TBody>,
): ((event: SQSEvent, context: Context) => Promise<SQSBatchResponse>) => {
  const run = createBatchRunner<TBody, SQSRecord>(handler, options, {
    label: 'SQS',
    defaultKey: (_body, record) => record.messageId,
    defaultFingerprint: (body, record) => ({ body, messageAttributes: record.messageAttributes }),
    sequenceName: 'FIFO message group',
    // SQS deletes every record that is not reported: the ones after a failure in a group must be.
    reportSkipped: true,
  })
  const log = options.logger === false ? undefined : (options.logger ?? console)

  /** Parses the body once; a body that is not JSON is logged and fails. */
  const toEntry = (record: SQSRecord): BatchEntry<TBody, SQSRecord> => {
    const fifo = isFifo(record)
    const entry = {
      record,
      sequence: fifo ? `group:${record.attributes?.MessageGroupId ?? ''}` : undefined,
      logFields: { messageId: record.messageId },
    }
    try {
      return { ...entry, decoded: { payload: JSON.parse(record.body) as TBody } }
    } catch (error) {
      // The parser's message quotes the body, which may hold personal data: log its length only.
      log?.warn('lambda-idempotency: the SQS message body is not valid JSON; the record fails', {
        messageId: record.messageId,
        outcome: 'invalid-json',
        bodyLength: typeof record.body === 'string' ? record.body.length : undefined,
        error: error instanceof Error ? error.name : typeof error,
      })
      return { ...entry, decoded: undefined }
    }
  }

  const idempotentSqs = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    const failed = await run(checkRecords(event).map(toEntry), context)
    // In batch order, each messageId once (a standard queue may deliver one message twice).
    const failedIds = new Set(failed.map((entry) => entry.record.messageId))
    return { batchItemFailures: [...failedIds].map((itemIdentifier) => ({ itemIdentifier })) }
  }
  return idempotentSqs
}

const isFifo = (record: SQSRecord): boolean =>
  typeof record.eventSourceARN === 'string' && record.eventSourceARN.endsWith('.fifo')

const checkRecords = (event: SQSEvent): SQSRecord[] => {
  const records = (event as { Records?: unknown } | null | undefined)?.Records
  if (!Array.isArray(records)) {
    throw new IdempotencyKeyInvalidError(
      'IDEMPOTENCY_INPUT_INVALID',
      `idempotentSqsHandler expects an SQS event with a Records array, got ${describeInput(event)}`,
    )
  }
  records.forEach((record: unknown, index) => {
    if (typeof (record as SQSRecord | null)?.messageId !== 'string') {
      throw new IdempotencyKeyInvalidError(
        'IDEMPOTENCY_INPUT_INVALID',
        `SQS record ${index} has no messageId, got ${describeInput(record)}`,
      )
    }
  })
  return records as SQSRecord[]
}
