import type { Context } from 'aws-lambda'
import { IdempotencyConfigError } from './errors.js'
import type { IdempotencyStore } from './stores/store.js'

/** Where warnings go (a failed completion, a fenced late invocation). Log lines never hold raw keys. */
export interface IdempotencyLogger {
  warn(message: string, details?: Record<string, unknown>): void
}

/**
 * What happened to a call, as reported to `onEvent`:
 * `claimed` (the work runs), `completed`, `replayed`, `in-progress` (409), `mismatch` (422),
 * `released` (the work failed), `fenced` (a late invocation's write was refused because another
 * invocation took the key over), `lost` (the claim's record was gone: deleted, evicted or lost in a
 * restart), `timed-out` (the invocation timed out and keeps its claim), `abandoned`
 * (blocked key), `not-stored` (result refused), `claim-failed`, `complete-failed`, `release-failed`
 * (store errors).
 */
export type IdempotencyOutcome =
  | 'claimed'
  | 'completed'
  | 'replayed'
  | 'in-progress'
  | 'mismatch'
  | 'released'
  | 'fenced'
  | 'lost'
  | 'timed-out'
  | 'abandoned'
  | 'not-stored'
  | 'claim-failed'
  | 'complete-failed'
  | 'release-failed'

/** One outcome, for metrics and logs. `id` is the hashed record id: raw keys never leave the library. */
export interface IdempotencyEvent {
  outcome: IdempotencyOutcome
  id: string
  /** `replayed`: whether the local cache answered. */
  cached?: boolean
  /** `fenced`: which write was refused. */
  step?: 'complete' | 'release'
  /** `completed`: the work committed the completion inside its own transaction. */
  transactional?: boolean
  /** Store failures: the error's name and message; `timed-out`: the timeout. */
  error?: string
}

/**
 * Options shared by `idempotent()` and `makeIdempotent()`.
 *
 * @example
 * idempotent({ store, key: (event) => event.orderId, ttlSeconds: 3600, inProgress: { waitMs: 5000 } })
 */
export interface IdempotencyOptions<TInput = unknown> {
  /** Where records live: a `DynamoDBStore` in production, a `MemoryStore` in tests. Required. */
  store: IdempotencyStore
  /**
   * Returns the idempotency key: a string (1 to 255 characters, no control characters) or a
   * number. `undefined`, `null` or `''` mean "no key" (see `required`). A selector that throws is
   * answered with a 400 `IdempotencyKeyInvalidError`.
   * @default the SHA-256 of the whole input's canonical JSON
   */
  key?: (input: TInput, context: Context | undefined) => unknown
  /**
   * Returns what must be equal when a key comes again; a different value is a 422
   * `IdempotencyKeyReusedError`. Hashed as canonical JSON: key order and whitespace do not matter.
   * `false` turns the check off.
   * @default the whole input (no check when the key itself is the hash of the whole input)
   */
  fingerprint?: ((input: TInput) => unknown) | false
  /**
   * Separates keys of different tenants or callers: the same key in two scopes is two records.
   * @default '' (one scope per function)
   */
  scope?: string | ((input: TInput, context: Context | undefined) => string | undefined)
  /** How long a completed result is replayed, in seconds. @default 86_400 (24 hours) */
  ttlSeconds?: number
  /**
   * How long a claim is held when there is no Lambda context to take the remaining time from, in
   * milliseconds. After it ends, a retry takes the key over. @default 60_000
   */
  leaseMs?: number
  /**
   * For a durable function handler (`withDurableExecution`): its `ExecutionTimeout`, in seconds. A
   * durable execution holds its key this long (renewed by each replay of its handler), whatever its
   * waits, before another execution may take the key over. Set it to the function's
   * `DurableConfig.ExecutionTimeout`, so that an execution that timed out or was stopped frees its
   * key after that long.
   * @default 31_622_400 (366 days, the longest a durable execution runs)
   */
  durableTimeoutSeconds?: number
  /**
   * What a duplicate does while the first call still runs: `'reject'` answers at once with a 409
   * `IdempotencyInProgressError`; `{ waitMs }` waits up to `waitMs` for the result and replays it.
   * @default 'reject'
   */
  inProgress?: 'reject' | { waitMs: number }
  /**
   * Completed results kept in this process (least recently used first out), so a replay on a warm
   * instance makes no request at all. `0` turns it off. @default 0
   */
  localCache?: number
  /** When `false`, a call without a key runs without idempotency instead of a 400. @default true */
  required?: boolean
  /** The clock, epoch milliseconds. For tests. @default Date.now */
  now?: () => number
  /** Where warnings go; `false` silences them. @default console */
  logger?: IdempotencyLogger | false
  /**
   * Called with every outcome (claimed, replayed, in-progress, mismatch, released, fenced...), for
   * metrics or structured logs. It runs inline: keep it fast. Errors it throws are logged and
   * ignored. @default none
   */
  onEvent?: (event: IdempotencyEvent) => void
  /**
   * What happens to a key whose invocation lost its lease before finishing (a crash or timeout).
   * `'retry'`: the next retry takes it over and runs the work again. `'block'`: the key answers an
   * `IdempotencyAbandonedError` until an operator releases it (`releaseKey`), for work that must
   * never run twice even after a crash, such as withdrawals. @default 'retry'
   */
  abandoned?: 'retry' | 'block'
  /**
   * Encoded results longer than this are stored compressed (Brotli, base64), so JSON results of
   * about 1 MB fit a 400 KB DynamoDB item. @default 16_384
   */
  compressAboveBytes?: number
}

/** The key and the fingerprint source that an event carries by itself (see `sources/default-keys.ts`). */
export interface SourceIdentity {
  /** Which source recognised the input, for documentation and logs. */
  source: 'eventbridge' | 'sqs' | 'sns' | 'dynamodb-streams' | 'kinesis' | 'kafka'
  /** The record's id; `undefined` for a batch of several records, which has no one key. */
  key: string | undefined
  /** The payload that must match when the id comes again. */
  fingerprint: unknown
  /** For a batch: how many records it holds. */
  records?: number
}

/** Options resolved and checked once, when the factory runs. */
export interface ResolvedOptions<TInput = unknown> {
  store: IdempotencyStore
  key: ((input: TInput, context: Context | undefined) => unknown) | undefined
  fingerprint: ((input: TInput) => unknown) | false | undefined
  scope: string | ((input: TInput, context: Context | undefined) => string | undefined)
  ttlSeconds: number
  leaseMs: number
  durableTimeoutSeconds: number
  waitMs: number
  localCache: number
  required: boolean
  now: () => number
  logger: IdempotencyLogger | undefined
  onEvent: ((event: IdempotencyEvent) => void) | undefined
  abandoned: 'retry' | 'block'
  compressAboveBytes: number
  /** The wrapped function's stable name (`makeIdempotent`), `''` for the middleware. */
  name: string
  /** Recognises inputs that carry their own key (event sources); set by the entry point. */
  source: ((input: TInput) => SourceIdentity | undefined) | undefined
}

// The longest ExecutionTimeout of a durable function: 366 days.
const MAX_DURABLE_TIMEOUT_SECONDS = 31_622_400

const defaults = {
  ttlSeconds: 86_400,
  leaseMs: 60_000,
  durableTimeoutSeconds: MAX_DURABLE_TIMEOUT_SECONDS,
  inProgress: 'reject',
  localCache: 0,
  required: true,
  now: Date.now,
  logger: console,
  scope: '',
  abandoned: 'retry',
  compressAboveBytes: 16_384,
} as const

/**
 * Applies defaults and checks every option.
 *
 * @throws IdempotencyConfigError naming the first invalid option and its value.
 */
export const resolveOptions = <TInput>(
  options: IdempotencyOptions<TInput>,
  name = '',
  source?: (input: TInput) => SourceIdentity | undefined,
): ResolvedOptions<TInput> => {
  if (typeof options !== 'object' || options === null) {
    throw new IdempotencyConfigError('options', 'an object with at least a store', options)
  }
  const merged = { ...defaults, ...stripUndefined(options) }
  const { store } = merged
  for (const method of ['claim', 'complete', 'release', 'get'] as const) {
    if (typeof store?.[method] !== 'function') {
      throw new IdempotencyConfigError('store', `an IdempotencyStore (missing ${method}())`, store)
    }
  }
  assertOptionalFunction('key', merged.key)
  if (merged.fingerprint !== false) assertOptionalFunction('fingerprint', merged.fingerprint)
  if (typeof merged.scope !== 'string' && typeof merged.scope !== 'function') {
    throw new IdempotencyConfigError('scope', 'a string or a function', merged.scope)
  }
  assertInteger('ttlSeconds', merged.ttlSeconds, 1)
  assertInteger('leaseMs', merged.leaseMs, 1)
  assertInteger('durableTimeoutSeconds', merged.durableTimeoutSeconds, 1)
  if (merged.durableTimeoutSeconds > MAX_DURABLE_TIMEOUT_SECONDS) {
    throw new IdempotencyConfigError(
      'durableTimeoutSeconds',
      `at most ${MAX_DURABLE_TIMEOUT_SECONDS} (366 days)`,
      merged.durableTimeoutSeconds,
    )
  }
  assertInteger('localCache', merged.localCache, 0)
  assertInteger('compressAboveBytes', merged.compressAboveBytes, 0)
  assertOptionalFunction('onEvent', merged.onEvent)
  if (merged.abandoned !== 'retry' && merged.abandoned !== 'block') {
    throw new IdempotencyConfigError('abandoned', "'retry' or 'block'", merged.abandoned)
  }
  let waitMs = 0
  if (merged.inProgress !== 'reject') {
    const waiting = merged.inProgress as { waitMs?: unknown } | undefined
    if (typeof waiting !== 'object' || waiting === null) {
      throw new IdempotencyConfigError('inProgress', "'reject' or { waitMs: number }", merged.inProgress)
    }
    assertInteger('inProgress.waitMs', waiting.waitMs, 1)
    waitMs = waiting.waitMs as number
  }
  if (typeof merged.required !== 'boolean')
    throw new IdempotencyConfigError('required', 'a boolean', merged.required)
  if (typeof merged.now !== 'function') throw new IdempotencyConfigError('now', 'a function', merged.now)
  const logger = merged.logger
  if (logger !== false && typeof logger?.warn !== 'function') {
    throw new IdempotencyConfigError('logger', 'an object with a warn() method, or false', logger)
  }
  return {
    store,
    key: merged.key,
    fingerprint: merged.fingerprint,
    scope: merged.scope,
    ttlSeconds: merged.ttlSeconds,
    leaseMs: merged.leaseMs,
    durableTimeoutSeconds: merged.durableTimeoutSeconds,
    waitMs,
    localCache: merged.localCache,
    required: merged.required,
    now: merged.now,
    logger: logger === false ? undefined : logger,
    onEvent: merged.onEvent,
    abandoned: merged.abandoned,
    compressAboveBytes: merged.compressAboveBytes,
    name,
    source,
  }
}

/** `{ ttlSeconds: undefined }` means "the default", as it does in most option objects. */
export const stripUndefined = <T extends object>(options: T): T =>
  Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as T

const assertOptionalFunction = (option: string, value: unknown): void => {
  if (value !== undefined && typeof value !== 'function') {
    throw new IdempotencyConfigError(option, 'a function', value)
  }
}

const assertInteger = (option: string, value: unknown, minimum: number): void => {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum) {
    const expectation = minimum === 0 ? 'a non-negative integer' : 'a positive integer'
    throw new IdempotencyConfigError(option, expectation, value)
  }
}
