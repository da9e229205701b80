import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda'
import { runWithClaim } from '../current-claim.js'
import {
  IdempotencyConfigError,
  IdempotencyError,
  IdempotencyKeyInvalidError,
  IdempotencyResultError,
} from '../errors.js'
import { lambdaContext } from '../lambda-context.js'
import { type IdempotencyLogger, type IdempotencyOptions, resolveOptions } from '../options.js'
import { createProtocol } from '../protocol.js'
import { forEachBounded } from './bounded-concurrency.js'

/** Records processed at once when `concurrency` is not set: Lambda's default SQS batch size. */
const DEFAULT_SQS_CONCURRENCY = 10

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

/** A record as the protocol sees it: its body parsed once and its key selected once. */
interface QueuedRecord<TBody> {
  record: SQSRecord
  body: TBody
  key: { value: unknown } | { error: unknown }
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
  if (typeof handler !== 'function') throw new IdempotencyConfigError('handler', 'a function', handler)
  if (typeof options !== 'object' || options === null) {
    throw new IdempotencyConfigError('options', 'an object with at least a store', options)
  }
  const { key, fingerprint, scope, concurrency = DEFAULT_SQS_CONCURRENCY, name = '', ...shared } = options
  if (key !== undefined && typeof key !== 'function')
    throw new IdempotencyConfigError('key', 'a function', key)
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new IdempotencyConfigError('concurrency', 'a positive integer', concurrency)
  }
  if (typeof name !== 'string') throw new IdempotencyConfigError('name', 'a string', name)

  const resolved = resolveOptions<QueuedRecord<TBody>>(
    {
      ...shared,
      required: true,
      key: (input) => {
        if ('error' in input.key) throw input.key.error
        return input.key.value
      },
      // Invalid values pass through unchanged, so resolveOptions names them in its error.
      fingerprint:
        fingerprint === undefined
          ? (input) => ({ body: input.body, messageAttributes: input.record.messageAttributes })
          : typeof fingerprint === 'function'
            ? (input) => fingerprint(input.body, input.record)
            : fingerprint,
      scope:
        typeof scope === 'function'
          ? (input, context) => scope(input.body, input.record, context)
          : (scope as string | undefined),
    },
    name,
  )
  const protocol = createProtocol(resolved)
  const log = resolved.logger

  /** Runs one record under its claim; true when it succeeded or had already succeeded. */
  const processRecord = async (item: QueuedRecord<TBody>, context: Context): Promise<boolean> => {
    const { messageId } = item.record
    let decision: Awaited<ReturnType<typeof protocol.begin>>
    try {
      decision = await protocol.begin(item, lambdaContext(context))
    } catch (error) {
      // The record was completed earlier, but its result could not be stored: the work is done.
      if (error instanceof IdempotencyResultError) return true
      return reportFailure(log, messageId, error)
    }
    if (decision.action === 'replay') return true
    let result: unknown
    try {
      result =
        decision.action === 'run'
          ? await runWithClaim(decision.claim.handle, () => handler(item.body, item.record, context))
          : await handler(item.body, item.record, context)
    } catch (error) {
      if (decision.action === 'run') await protocol.release(decision.claim)
      return reportFailure(log, messageId, error)
    }
    if (decision.action === 'run') {
      try {
        await protocol.complete(decision.claim, result)
      } catch (error) {
        // The work ran and the record says so: deleting the message is right, re-running it is not.
        if (!(error instanceof IdempotencyResultError)) return reportFailure(log, messageId, error)
        log?.warn(
          'lambda-idempotency: the SQS record ran but its result cannot be replayed; it counts as done',
          {
            messageId,
            outcome: 'result-not-stored',
            error: describeError(error),
          },
        )
      }
    }
    return true
  }

  /** Parses the body once and selects the key once; a body that is not JSON is logged and fails. */
  const prepare = (record: SQSRecord): Entry<TBody> => {
    let body: TBody
    try {
      body = JSON.parse(record.body) as TBody
    } catch (error) {
      // The parser's message quotes the body, which may hold personal data: log its length only.
      log?.warn('lambda-idempotency: the SQS message body is not valid JSON; the record fails', {
        messageId: record.messageId,
        outcome: 'invalid-json',
        bodyLength: typeof record.body === 'string' ? record.body.length : undefined,
        error: error instanceof Error ? error.name : typeof error,
      })
      return { record, queued: undefined, lockKey: undefined }
    }
    let selected: QueuedRecord<TBody>['key']
    try {
      selected = { value: key === undefined ? record.messageId : key(body, record) }
    } catch (error) {
      selected = { error }
    }
    const lockKey = 'value' in selected ? lockKeyOf(selected.value) : undefined
    return { record, queued: { record, body, key: selected }, lockKey }
  }

  const idempotentSqs = async (event: SQSEvent, context: Context): Promise<SQSBatchResponse> => {
    const records = checkRecords(event)
    const failed = new Set<string>()
    // Per invocation, never in the factory's closure: concurrent invocations share nothing.
    const locks = new Map<string, Promise<void>>()

    await forEachBounded(toLanes(records.map(prepare)), concurrency, async (lane) => {
      for (const [position, entry] of lane.entries.entries()) {
        const { queued } = entry
        const ok =
          queued !== undefined && (await withLock(locks, entry.lockKey, () => processRecord(queued, context)))
        if (ok) continue
        failed.add(entry.record.messageId)
        if (!lane.fifo) continue
        // Later records of the group must not overtake the failed one: they are reported unrun.
        const skipped = lane.entries.slice(position + 1).map((later) => later.record.messageId)
        for (const messageId of skipped) failed.add(messageId)
        if (skipped.length > 0) {
          log?.warn('lambda-idempotency: a FIFO message group stopped at a failed record', {
            messageId: entry.record.messageId,
            outcome: 'group-stopped',
            skippedMessageIds: skipped,
          })
        }
        break
      }
    })

    // In batch order, each messageId once (a standard queue may deliver one message twice).
    const failedIds = new Set(records.map((record) => record.messageId).filter((id) => failed.has(id)))
    return { batchItemFailures: [...failedIds].map((itemIdentifier) => ({ itemIdentifier })) }
  }
  return idempotentSqs
}

/** A record of the batch: parsed (`undefined` when its body is not JSON) and its in-batch lock. */
interface Entry<TBody> {
  record: SQSRecord
  queued: QueuedRecord<TBody> | undefined
  lockKey: string | undefined
}

/** Records that run one after the other; lanes run concurrently. */
interface Lane<TBody> {
  fifo: boolean
  entries: Entry<TBody>[]
}

/**
 * FIFO queues: one lane per message group, in batch order. Standard queues: one lane per key, so
 * duplicates of a batch wait for each other without holding a concurrency slot each.
 */
const toLanes = <TBody>(entries: Entry<TBody>[]): Lane<TBody>[] => {
  const lanes = new Map<string, Lane<TBody>>()
  entries.forEach((entry, index) => {
    const fifo = isFifo(entry.record)
    const laneId = fifo
      ? `group:${entry.record.attributes?.MessageGroupId ?? ''}`
      : entry.lockKey !== undefined
        ? `key:${entry.lockKey}`
        : `record:${index}`
    const lane = lanes.get(laneId) ?? { fifo, entries: [] }
    lane.entries.push(entry)
    lanes.set(laneId, lane)
  })
  return [...lanes.values()]
}

const isFifo = (record: SQSRecord): boolean =>
  typeof record.eventSourceARN === 'string' && record.eventSourceARN.endsWith('.fifo')

// The protocol turns a number key into its string, so 7 and '7' are one record and one lock.
const lockKeyOf = (key: unknown): string | undefined =>
  (typeof key === 'string' && key !== '') || (typeof key === 'number' && Number.isFinite(key))
    ? String(key)
    : undefined

/**
 * Runs `work` once every earlier holder of `lockKey` in this batch has finished, so a duplicate
 * replays the first record's outcome instead of meeting its claim in progress (a 409).
 */
const withLock = async <T>(
  locks: Map<string, Promise<void>>,
  lockKey: string | undefined,
  work: () => Promise<T>,
): Promise<T> => {
  if (lockKey === undefined) return work()
  const previous = locks.get(lockKey) ?? Promise.resolve()
  let unlock: () => void = () => {}
  const held = new Promise<void>((resolve) => {
    unlock = resolve
  })
  locks.set(
    lockKey,
    previous.then(() => held),
  )
  await previous
  try {
    return await work()
  } finally {
    unlock()
  }
}

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

// Names the shape of a bad input without printing it: events carry message bodies.
const describeInput = (value: unknown): string => {
  if (value === null || typeof value !== 'object') return value === null ? 'null' : typeof value
  if (Array.isArray(value)) return 'an array'
  const keys = Object.keys(value)
  return keys.length === 0 ? 'an empty object' : `an object with keys ${keys.slice(0, 5).join(', ')}`
}

const reportFailure = (log: IdempotencyLogger | undefined, messageId: string, error: unknown): false => {
  log?.warn('lambda-idempotency: the SQS record failed and is reported in batchItemFailures', {
    messageId,
    outcome: error instanceof IdempotencyError ? error.code : 'handler-failed',
    error: describeError(error),
  })
  return false
}

const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error)
