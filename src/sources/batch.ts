import type { Context } from 'aws-lambda'
import { runWithClaim } from '../current-claim.js'
import { IdempotencyConfigError, IdempotencyError, IdempotencyResultError } from '../errors.js'
import { lambdaContext } from '../lambda-context.js'
import { type IdempotencyLogger, type IdempotencyOptions, resolveOptions } from '../options.js'
import { createProtocol } from '../protocol.js'
import { forEachBounded } from './bounded-concurrency.js'

/**
 * Options every per-record handler takes (`idempotentSqsHandler`, `idempotentKinesisHandler`,
 * `idempotentDynamoDBStreamHandler`, `idempotentKafkaHandler`). `store`, `ttlSeconds`, `leaseMs`,
 * `inProgress`, `localCache`, `now`, `logger`, `onEvent`, `abandoned` and `compressAboveBytes`
 * mean what they mean for `idempotent()`.
 *
 * @example
 * idempotentKinesisHandler(recordClick, { store, key: (click) => click.clickId, concurrency: 4 })
 */
export interface RecordIdempotencyOptions<TPayload, TRecord>
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
   * Returns a record's idempotency key from its decoded payload, for example the event id a
   * producer puts in the message, so that a producer that sends the same event twice is caught as
   * well. A selector that throws, or returns no key, fails that record only.
   * @default the id the source keeps across redeliveries (see each handler)
   */
  key?: (payload: TPayload, record: TRecord) => unknown
  /**
   * Returns what must be equal when a key comes again; a different value fails the record with an
   * `IdempotencyKeyReusedError` (it is not run). `false` turns the check off.
   * @default the decoded payload; never per-delivery fields (receipt handles, arrival times,
   *   sequence numbers, offsets)
   */
  fingerprint?: ((payload: TPayload, record: TRecord) => unknown) | false
  /**
   * Separates keys of different tenants: the same key in two scopes is two records.
   * @default '' (one scope per function)
   */
  scope?: string | ((payload: TPayload, record: TRecord, context: Context | undefined) => string | undefined)
  /**
   * The most records, or ordered sequences (FIFO message groups, shards, items, partitions),
   * processed at once.
   * @default 10
   */
  concurrency?: number
  /**
   * A stable name that is part of every record id: set it when one Lambda function has two
   * handlers whose keys could meet.
   * @default ''
   */
  name?: string
}

/** One record of a batch, as a source hands it to {@link createBatchRunner}. */
export interface BatchEntry<TPayload, TRecord> {
  record: TRecord
  /** The decoded payload; `undefined` when decoding failed (the source has logged why). */
  decoded: { payload: TPayload } | undefined
  /**
   * Records with the same sequence run one after the other, in batch order, and stop at the first
   * failure. `undefined`: the record is ordered with nothing (standard SQS queues).
   */
  sequence: string | undefined
  /** Names the record in log lines, never its payload: `{ messageId }`, `{ eventID }`... */
  logFields: Record<string, unknown>
}

/** What a source tells the runner about itself. */
export interface BatchSource<TPayload, TRecord> {
  /** The source in log lines and errors: `SQS`, `Kinesis`, `DynamoDB Streams`, `Kafka`. */
  label: string
  /** The key when the `key` option is not set: an id that survives redelivery. */
  defaultKey: (payload: TPayload, record: TRecord) => unknown
  /** The fingerprint when the `fingerprint` option is not set: the payload only. */
  defaultFingerprint: (payload: TPayload, record: TRecord) => unknown
  /** What a sequence is called in the line logged when one stops: `FIFO message group`, `shard`. */
  sequenceName: string
  /**
   * `true`: the records after a failure in a sequence are reported as failures too (SQS FIFO, which
   * deletes what is not reported). `false`: only the failed record is (streams, which retry from
   * the lowest record reported).
   */
  reportSkipped: boolean
}

/** A record as the protocol sees it: its payload decoded once and its key selected once. */
interface ClaimInput<TPayload, TRecord> {
  record: TRecord
  payload: TPayload
  key: { value: unknown } | { error: unknown }
}

/** Records that run one after the other; lanes run concurrently. */
interface Lane<TPayload, TRecord> {
  ordered: boolean
  entries: Prepared<TPayload, TRecord>[]
}

interface Prepared<TPayload, TRecord> {
  entry: BatchEntry<TPayload, TRecord>
  input: ClaimInput<TPayload, TRecord> | undefined
  lockKey: string | undefined
}

/** Runs a batch; resolves with the entries to report in `batchItemFailures`, in batch order. */
export type BatchRunner<TPayload, TRecord> = (
  entries: BatchEntry<TPayload, TRecord>[],
  context: Context,
) => Promise<BatchEntry<TPayload, TRecord>[]>

/** Records processed at once when `concurrency` is not set: Lambda's default SQS batch size. */
const DEFAULT_CONCURRENCY = 10

/**
 * What the four per-record handlers share: checks the options once, then, per batch, selects each
 * record's key, claims, runs, completes or releases each record on its own through the protocol,
 * runs records with the same key one after the other (a duplicate replays the first one's
 * outcome), keeps the order of each sequence and stops it at its first failure, and runs lanes
 * concurrently up to `concurrency`.
 *
 * @example
 * const run = createBatchRunner(handler, options, { label: 'Kinesis', defaultKey, ... })
 * const failed = await run(entries, context)
 */
export const createBatchRunner = <TPayload, TRecord>(
  handler: (payload: TPayload, record: TRecord, context: Context) => Promise<unknown>,
  options: RecordIdempotencyOptions<TPayload, TRecord>,
  source: BatchSource<TPayload, TRecord>,
): BatchRunner<TPayload, TRecord> => {
  if (typeof handler !== 'function') throw new IdempotencyConfigError('handler', 'a function', handler)
  if (typeof options !== 'object' || options === null) {
    throw new IdempotencyConfigError('options', 'an object with at least a store', options)
  }
  const { key, fingerprint, scope, concurrency = DEFAULT_CONCURRENCY, name = '', ...shared } = options
  if (key !== undefined && typeof key !== 'function')
    throw new IdempotencyConfigError('key', 'a function', key)
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new IdempotencyConfigError('concurrency', 'a positive integer', concurrency)
  }
  if (typeof name !== 'string') throw new IdempotencyConfigError('name', 'a string', name)

  const resolved = resolveOptions<ClaimInput<TPayload, TRecord>>(
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
          ? (input) => source.defaultFingerprint(input.payload, input.record)
          : typeof fingerprint === 'function'
            ? (input) => fingerprint(input.payload, input.record)
            : fingerprint,
      scope:
        typeof scope === 'function'
          ? (input, context) => scope(input.payload, input.record, context)
          : (scope as string | undefined),
    },
    name,
  )
  const protocol = createProtocol(resolved)
  const log = resolved.logger
  const selectKey = key ?? source.defaultKey

  /** Runs one record under its claim; true when it succeeded or had already succeeded. */
  const processRecord = async (
    input: ClaimInput<TPayload, TRecord>,
    fields: Record<string, unknown>,
    context: Context,
  ): Promise<boolean> => {
    let decision: Awaited<ReturnType<typeof protocol.begin>>
    try {
      decision = await protocol.begin(input, lambdaContext(context))
    } catch (error) {
      // The record was completed earlier, but its result could not be stored: the work is done.
      if (error instanceof IdempotencyResultError) return true
      return reportFailure(log, source.label, fields, error)
    }
    if (decision.action === 'replay') return true
    let result: unknown
    try {
      result =
        decision.action === 'run'
          ? await runWithClaim(decision.claim.handle, () => handler(input.payload, input.record, context))
          : await handler(input.payload, input.record, context)
    } catch (error) {
      if (decision.action === 'run') await protocol.release(decision.claim)
      return reportFailure(log, source.label, fields, error)
    }
    if (decision.action === 'run') {
      try {
        await protocol.complete(decision.claim, result)
      } catch (error) {
        // The work ran and the record says so: counting it as done is right, re-running it is not.
        if (!(error instanceof IdempotencyResultError)) return reportFailure(log, source.label, fields, error)
        log?.warn(
          `lambda-idempotency: the ${source.label} record ran but its result cannot be replayed; it counts as done`,
          { ...fields, outcome: 'result-not-stored', error: describeError(error) },
        )
      }
    }
    return true
  }

  /** Selects the key once; an entry that could not be decoded has no input and fails unrun. */
  const prepare = (entry: BatchEntry<TPayload, TRecord>): Prepared<TPayload, TRecord> => {
    if (entry.decoded === undefined) return { entry, input: undefined, lockKey: undefined }
    const { payload } = entry.decoded
    let selected: ClaimInput<TPayload, TRecord>['key']
    try {
      selected = { value: selectKey(payload, entry.record) }
    } catch (error) {
      selected = { error }
    }
    const lockKey = 'value' in selected ? lockKeyOf(selected.value) : undefined
    return { entry, input: { record: entry.record, payload, key: selected }, lockKey }
  }

  return async (entries, context) => {
    const failed = new Set<BatchEntry<TPayload, TRecord>>()
    // Per invocation, never in the factory's closure: concurrent invocations share nothing.
    const locks = new Map<string, Promise<void>>()

    await forEachBounded(toLanes(entries.map(prepare)), concurrency, async (lane) => {
      for (const [position, prepared] of lane.entries.entries()) {
        const { input, entry } = prepared
        const ok =
          input !== undefined &&
          (await withLock(locks, prepared.lockKey, () => processRecord(input, entry.logFields, context)))
        if (ok) continue
        failed.add(entry)
        if (!lane.ordered) continue
        // Later records of the sequence must not overtake the failed one: they do not run.
        const skipped = lane.entries.slice(position + 1).map((later) => later.entry)
        if (source.reportSkipped) for (const later of skipped) failed.add(later)
        if (skipped.length > 0) {
          log?.warn(`lambda-idempotency: a ${source.sequenceName} stopped at a failed record`, {
            ...entry.logFields,
            outcome: 'group-stopped',
            skipped: skipped.map((later) => later.logFields),
          })
        }
        break
      }
    })

    return entries.filter((entry) => failed.has(entry))
  }
}

/**
 * One lane per sequence, in batch order; records without a sequence get one lane per key, so
 * duplicates of a batch wait for each other without holding a concurrency slot each.
 */
const toLanes = <TPayload, TRecord>(prepared: Prepared<TPayload, TRecord>[]): Lane<TPayload, TRecord>[] => {
  const lanes = new Map<string, Lane<TPayload, TRecord>>()
  prepared.forEach((item, index) => {
    const { sequence } = item.entry
    const laneId =
      sequence !== undefined
        ? `sequence:${sequence}`
        : item.lockKey !== undefined
          ? `key:${item.lockKey}`
          : `record:${index}`
    const lane = lanes.get(laneId) ?? { ordered: sequence !== undefined, entries: [] }
    lane.entries.push(item)
    lanes.set(laneId, lane)
  })
  return [...lanes.values()]
}

// The protocol turns a number key into its string, so 7 and '7' are one record and one lock.
const lockKeyOf = (key: unknown): string | undefined =>
  (typeof key === 'string' && key !== '') || (typeof key === 'number' && Number.isFinite(key))
    ? String(key)
    : undefined

/**
 * Runs `work` once every earlier holder of `lockKey` in this batch has finished, so a duplicate
 * replays the first record's outcome instead of meeting its claim in progress (a 409). A lock is
 * held for one record's work only, never across records, so two lanes cannot wait on each other.
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

const reportFailure = (
  log: IdempotencyLogger | undefined,
  label: string,
  fields: Record<string, unknown>,
  error: unknown,
): false => {
  log?.warn(`lambda-idempotency: the ${label} record failed and is reported in batchItemFailures`, {
    ...fields,
    outcome: error instanceof IdempotencyError ? error.code : 'handler-failed',
    error: describeError(error),
  })
  return false
}

/** An error as a log line shows it: its name and message. */
export const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error)

/**
 * Names the shape of a bad input without printing it: events carry message bodies.
 *
 * @example
 * describeInput({ detail: {} }) // 'an object with keys detail'
 */
export const describeInput = (value: unknown): string => {
  if (value === null || typeof value !== 'object') return value === null ? 'null' : typeof value
  if (Array.isArray(value)) return 'an array'
  const keys = Object.keys(value)
  return keys.length === 0 ? 'an empty object' : `an object with keys ${keys.slice(0, 5).join(', ')}`
}
