/** Options for every {@link IdempotencyError}. */
export interface IdempotencyErrorOptions {
  /** The failure this error wraps (an SDK error, a `TypeError` from a key selector...). */
  cause?: unknown
}

/**
 * Base class of every error the library throws. Branch with `instanceof` or on `code`, never on
 * the message. `statusCode` and `expose` follow the convention of `@middy/http-error-handler`,
 * so an HTTP API answers with the right status without extra code.
 *
 * @example
 * if (error instanceof IdempotencyError && error.code === 'IDEMPOTENCY_IN_PROGRESS') retryLater()
 */
export class IdempotencyError extends Error {
  // Literal names, not new.target.name: bundlers minify class names.
  override name = 'IdempotencyError'
  /** A stable identifier for programs, e.g. `IDEMPOTENCY_KEY_REUSED`. */
  readonly code: string
  /** The HTTP status that answers this error. */
  readonly statusCode: number
  /** Whether the message may be shown to the client (true for 4xx). */
  readonly expose: boolean

  constructor(code: string, statusCode: number, message: string, options: IdempotencyErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.statusCode = statusCode
    this.expose = statusCode < 500
  }
}

/**
 * The idempotency key is missing (`IDEMPOTENCY_KEY_MISSING`), is not a valid key
 * (`IDEMPOTENCY_KEY_INVALID`), or could not be read from the input (`IDEMPOTENCY_INPUT_INVALID`).
 * HTTP 400: the client must send a valid key. Nothing was claimed or run.
 *
 * @example
 * throw new IdempotencyKeyInvalidError('IDEMPOTENCY_KEY_INVALID', 'idempotency key "a\\nb" contains a control character')
 */
export class IdempotencyKeyInvalidError extends IdempotencyError {
  override name = 'IdempotencyKeyInvalidError'
  constructor(
    code: 'IDEMPOTENCY_KEY_MISSING' | 'IDEMPOTENCY_KEY_INVALID' | 'IDEMPOTENCY_INPUT_INVALID',
    message: string,
    options?: IdempotencyErrorOptions,
  ) {
    super(code, 400, message, options)
  }
}

/**
 * Another invocation holds the key and has not finished. HTTP 409: retry after
 * `retryAfterSeconds`; the retry replays the result once the first call completes.
 *
 * @example
 * throw new IdempotencyInProgressError(3) // "a request with the same idempotency key is still in progress"
 */
export class IdempotencyInProgressError extends IdempotencyError {
  override name = 'IdempotencyInProgressError'
  /** Seconds until the current owner's lease ends (at least 1). */
  readonly retryAfterSeconds: number

  constructor(retryAfterSeconds: number) {
    super(
      'IDEMPOTENCY_IN_PROGRESS',
      409,
      `a request with the same idempotency key is still in progress; retry in ${retryAfterSeconds} s`,
    )
    this.retryAfterSeconds = retryAfterSeconds
  }
}

/**
 * An earlier invocation claimed the key and lost its lease before finishing (a crash or timeout),
 * and the function uses `abandoned: 'block'`: its work may or may not have taken effect, so the key
 * stays blocked until an operator inspects it and releases it (see `releaseKey`). HTTP 409: do not
 * retry blindly; the operation needs review.
 *
 * @example
 * throw new IdempotencyAbandonedError('3f2a...') // names the hashed record id, never the raw key
 */
export class IdempotencyAbandonedError extends IdempotencyError {
  override name = 'IdempotencyAbandonedError'
  /** The hashed record id, for `inspectKey` / `releaseKey`. */
  readonly id: string

  constructor(id: string) {
    super(
      'IDEMPOTENCY_ABANDONED',
      409,
      `an earlier request with this idempotency key stopped before finishing and needs review (record ${id})`,
    )
    this.id = id
  }
}

/**
 * A transactional completion was refused because this invocation no longer holds the key: its
 * lease ended and another invocation took the key over (or the record is gone). The whole
 * transaction was cancelled, so none of its writes landed. HTTP 409: the client's retry gets the
 * other invocation's outcome.
 *
 * @example
 * throw new IdempotencyFencedError('3f2a...') // names the hashed record id, never the raw key
 */
export class IdempotencyFencedError extends IdempotencyError {
  override name = 'IdempotencyFencedError'
  /** The hashed record id. */
  readonly id: string

  constructor(id: string) {
    super(
      'IDEMPOTENCY_FENCED',
      409,
      `this invocation no longer holds the idempotency key (record ${id}): another invocation took it over, and the transaction was cancelled with none of its writes`,
    )
    this.id = id
  }
}

/**
 * The key was already used with a different request (the fingerprints differ). HTTP 422: the
 * client must send a new key for a new request. Nothing ran.
 *
 * @example
 * throw new IdempotencyKeyReusedError() // "the idempotency key was already used with a different request"
 */
export class IdempotencyKeyReusedError extends IdempotencyError {
  override name = 'IdempotencyKeyReusedError'
  constructor() {
    // The key itself is not in the message: keys may hold personal data and messages reach logs.
    super('IDEMPOTENCY_KEY_REUSED', 422, 'the idempotency key was already used with a different request')
  }
}

/**
 * The idempotency store failed (throttled, unreachable, misconfigured); the SDK error is `cause`.
 * HTTP 503: retry later. Thrown before the work runs, the work did not run.
 *
 * @example
 * throw new IdempotencyStoreError('claim', sdkError)
 */
export class IdempotencyStoreError extends IdempotencyError {
  override name = 'IdempotencyStoreError'
  constructor(operation: 'claim' | 'complete' | 'release', cause: unknown) {
    const detail = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)
    super('IDEMPOTENCY_STORE_UNAVAILABLE', 503, `the idempotency store failed to ${operation}: ${detail}`, {
      cause,
    })
  }
}

/**
 * The work ran, but its result could not be stored (not JSON-compatible, or too large for the
 * store). The record is completed with this outcome, so retries get this same error and the
 * work never runs twice. HTTP 500: the operation's outcome must be checked by other means.
 *
 * @example
 * throw new IdempotencyResultError('result contains a bigint at $.total')
 */
export class IdempotencyResultError extends IdempotencyError {
  override name = 'IdempotencyResultError'
  /** Why the result could not be stored. */
  readonly reason: string

  constructor(reason: string, options?: IdempotencyErrorOptions) {
    super(
      'IDEMPOTENCY_RESULT_NOT_STORED',
      500,
      `the result could not be stored for replay: ${reason}`,
      options,
    )
    this.reason = reason
  }
}

/**
 * An option is invalid. Thrown when the factory runs (`idempotent()`, `makeIdempotent()`, a store's
 * constructor), never during an invocation.
 *
 * @example
 * idempotent({ store, ttlSeconds: 0 }) // IdempotencyConfigError: option "ttlSeconds" must be a positive integer, got 0
 */
export class IdempotencyConfigError extends IdempotencyError {
  override name = 'IdempotencyConfigError'
  constructor(option: string, expectation: string, value: unknown) {
    super(
      'IDEMPOTENCY_INVALID_OPTION',
      500,
      `option "${option}" must be ${expectation}, got ${describe(value)}`,
    )
  }
}

const describe = (value: unknown): string => {
  if (typeof value === 'function') return 'a function'
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'bigint') return `${value}n`
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return Object.prototype.toString.call(value)
  }
}
