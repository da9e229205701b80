import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Context } from 'aws-lambda'
import {
  IdempotencyError,
  IdempotencyInProgressError,
  IdempotencyKeyInvalidError,
  IdempotencyKeyReusedError,
  IdempotencyResultError,
  IdempotencyStoreError,
} from './errors.js'
import { sourceIdentity } from './event-sources.js'
import { hashValue, normalizeKey, recordId } from './key.js'
import { LocalCache } from './local-cache.js'
import type { ResolvedOptions } from './options.js'
import { decodeResult, encodeNotStored, encodeResult } from './result-codec.js'
import type { StoredRecord } from './store.js'

/** A key this invocation holds: what it needs to complete or release it. */
export interface Claim {
  id: string
  owner: string
  fingerprint: string | undefined
}

/** What to do with a call: run it unprotected (no key, not required), replay, or run under a claim. */
export type Decision =
  | { action: 'bypass' }
  | { action: 'replay'; result: unknown }
  | { action: 'run'; claim: Claim }

/** The claim / complete / release protocol behind every entry point. */
export interface Protocol<TInput> {
  /** Reads the key, then claims it, replays its result, or throws an `IdempotencyError`. */
  begin(input: TInput, context: Context | undefined): Promise<Decision>
  /**
   * Stores the result of a claimed call. Never makes the work run again: a failed or fenced
   * completion is logged and the caller still gets its result.
   * @throws IdempotencyResultError when the result cannot be stored (it is recorded as such).
   */
  complete(claim: Claim, result: unknown): Promise<void>
  /** Gives the key up after the work failed, so a retry runs. Never throws. */
  release(claim: Claim): Promise<void>
}

// Delays between polls while waiting for another invocation's result (`inProgress: { waitMs }`).
const FIRST_POLL_MS = 20
const MAX_POLL_MS = 250
const COMPLETE_ATTEMPTS = 2

/** Builds the protocol once per middleware or wrapped function; it holds no per-request state. */
export const createProtocol = <TInput>(options: ResolvedOptions<TInput>): Protocol<TInput> => {
  const { store, now, ttlSeconds, logger } = options
  const cache = new LocalCache(options.localCache)

  const replay = (record: Pick<StoredRecord, 'id' | 'fingerprint' | 'result'>, expiresAtMs: number) => {
    const result = record.result ?? 'null'
    cache.set(record.id, { fingerprint: record.fingerprint, result, expiresAtMs })
    return { action: 'replay', result: decodeResult(result) } as const
  }

  const begin = async (input: TInput, context: Context | undefined): Promise<Decision> => {
    const identity = identify(options, input, context)
    if (identity === undefined) return { action: 'bypass' }
    const { id, fingerprint } = identity

    const cached = cache.get(id, now())
    if (cached !== undefined) {
      if (cached.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError()
      return { action: 'replay', result: decodeResult(cached.result) }
    }

    const owner = randomUUID()
    const waitUntil = performance.now() + options.waitMs
    for (let delay = FIRST_POLL_MS; ; delay = Math.min(delay * 2, MAX_POLL_MS)) {
      const nowMs = now()
      const leaseExpiresAtMs = nowMs + leaseFor(options, context)
      const request = {
        id,
        owner,
        fingerprint,
        leaseExpiresAtMs,
        // An abandoned claim must outlive its lease, or expiry would free the key while it runs.
        expiresAtSeconds: Math.max(Math.floor(nowMs / 1000) + ttlSeconds, Math.ceil(leaseExpiresAtMs / 1000)),
        nowMs,
      }
      let outcome: Awaited<ReturnType<typeof store.claim>>
      try {
        outcome = await store.claim(request)
      } catch (error) {
        throw new IdempotencyStoreError('claim', error)
      }
      if (outcome.claimed) return { action: 'run', claim: { id, owner, fingerprint } }

      const { existing } = outcome
      if (existing.fingerprint !== fingerprint) throw new IdempotencyKeyReusedError()
      if (existing.status === 'COMPLETED') return replay(existing, existing.expiresAtSeconds * 1000)

      // Still in progress: answer now, or poll with the claim itself, which also takes the key
      // over (and runs the work) if the first invocation fails and releases it meanwhile.
      const remainingWaitMs = waitUntil - performance.now()
      if (remainingWaitMs <= 0) {
        const leftMs = (existing.leaseExpiresAtMs ?? nowMs) - nowMs
        throw new IdempotencyInProgressError(Math.max(1, Math.ceil(leftMs / 1000)))
      }
      await sleep(Math.min(delay, remainingWaitMs))
    }
  }

  const complete = async (claim: Claim, value: unknown): Promise<void> => {
    const { stored, failure } = encodeForStore(value, store.maxResultBytes)
    const nowMs = now()
    const expiresAtSeconds = Math.floor(nowMs / 1000) + ttlSeconds
    for (let attempt = 1; attempt <= COMPLETE_ATTEMPTS; attempt++) {
      try {
        const owned = await store.complete(claim.id, claim.owner, stored, expiresAtSeconds)
        if (owned) {
          cache.set(claim.id, {
            fingerprint: claim.fingerprint,
            result: stored,
            expiresAtMs: expiresAtSeconds * 1000,
          })
        } else {
          logger?.warn(
            'lambda-idempotency: the lease ended and another invocation took the key over; result not stored',
            {
              id: claim.id,
              outcome: 'fenced',
            },
          )
        }
        break
      } catch (error) {
        if (attempt === COMPLETE_ATTEMPTS) {
          logger?.warn(
            'lambda-idempotency: could not store the result; the key stays claimed until its lease ends',
            {
              id: claim.id,
              outcome: 'complete-failed',
              error: describeError(error),
            },
          )
        }
      }
    }
    if (failure !== undefined) throw failure
  }

  const release = async (claim: Claim): Promise<void> => {
    try {
      const owned = await store.release(claim.id, claim.owner)
      if (!owned) {
        logger?.warn(
          'lambda-idempotency: the lease ended and another invocation took the key over; not released',
          {
            id: claim.id,
            outcome: 'fenced',
          },
        )
      }
    } catch (error) {
      logger?.warn('lambda-idempotency: could not release the key; a retry can run once the lease ends', {
        id: claim.id,
        outcome: 'release-failed',
        error: describeError(error),
      })
    }
  }

  return { begin, complete, release }
}

/** The record id and fingerprint of a call, computed once; `undefined` when it runs unprotected. */
const identify = <TInput>(
  options: ResolvedOptions<TInput>,
  input: TInput,
  context: Context | undefined,
): { id: string; fingerprint: string | undefined } | undefined => {
  // Without a key selector: the id an event source carries (EventBridge, SQS, SNS, streams), else
  // the hash of the whole input.
  const source = options.key === undefined ? sourceIdentity(input) : undefined
  const key =
    options.key !== undefined
      ? read('the key', () => options.key?.(input, context))
      : (source?.key ?? read('the input', () => hashValue(input)))
  const normalized = normalizeKey(key)
  if (normalized === undefined) {
    if (options.required) {
      throw new IdempotencyKeyInvalidError('IDEMPOTENCY_KEY_MISSING', 'the request has no idempotency key')
    }
    return undefined
  }
  const selectScope = options.scope
  const scope =
    typeof selectScope === 'string'
      ? selectScope
      : read('the scope', () => checkScope(selectScope(input, context)))
  const id = recordId({ functionName: context?.functionName ?? '', name: options.name, scope }, normalized)

  let fingerprint: string | undefined
  if (typeof options.fingerprint === 'function') {
    const selector = options.fingerprint
    fingerprint = read('the fingerprint', () => hashValue(selector(input)))
  } else if (options.fingerprint === undefined) {
    if (source !== undefined) fingerprint = read('the fingerprint', () => hashValue(source.fingerprint))
    // With the default key the key already is the hash of the whole input: nothing more to check.
    else if (options.key !== undefined) fingerprint = read('the fingerprint', () => hashValue(input))
  }
  return { id, fingerprint }
}

// A selector that throws on odd input (a string event, a missing header map) is bad input, not a
// bug in this library: answer 400 and keep the selector's error as the cause.
const read = <T>(what: string, select: () => T): T => {
  try {
    return select()
  } catch (error) {
    if (error instanceof IdempotencyError) throw error
    throw new IdempotencyKeyInvalidError(
      'IDEMPOTENCY_INPUT_INVALID',
      `could not read ${what}: ${describeError(error)}`,
      {
        cause: error,
      },
    )
  }
}

const leaseFor = (options: { leaseMs: number }, context: Context | undefined): number => {
  const remaining =
    typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : Number.NaN
  // Zero remaining time is a real reading (the invocation is about to time out), not "unknown".
  return Number.isFinite(remaining) && remaining >= 0 ? remaining : options.leaseMs
}

/** The text to store for a result: the encoded value, or the "not stored" marker and its reason. */
const encodeForStore = (
  value: unknown,
  maxBytes: number,
): { stored: string; failure?: IdempotencyResultError } => {
  let failure: IdempotencyResultError
  try {
    const stored = encodeResult(value)
    // A UTF-16 unit is at most 3 UTF-8 bytes: skip the byte count when it cannot matter.
    const bytes = stored.length * 3 <= maxBytes ? 0 : Buffer.byteLength(stored)
    if (bytes <= maxBytes) return { stored }
    failure = new IdempotencyResultError(
      `the encoded result is ${bytes} bytes; the store holds at most ${maxBytes}`,
    )
  } catch (error) {
    if (!(error instanceof IdempotencyResultError)) throw error
    failure = error
  }
  return { stored: encodeNotStored(failure.reason), failure }
}

const checkScope = (scope: unknown): string => {
  if (scope === undefined || scope === null) return ''
  if (typeof scope !== 'string')
    throw new TypeError(`the scope selector returned a ${typeof scope}, not a string`)
  return scope
}

const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error)
