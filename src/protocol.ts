import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Context } from 'aws-lambda'
import {
  type CurrentClaim,
  claimHandle,
  committedOtherResult,
  type TransactionState,
} from './current-claim.js'
import { durableOwner } from './durable.js'
import {
  IdempotencyAbandonedError,
  IdempotencyConfigError,
  IdempotencyInProgressError,
  IdempotencyKeyReusedError,
  IdempotencyResultError,
  IdempotencyStoreError,
} from './errors.js'
import { describeError, identify } from './identity.js'
import { LocalCache } from './local-cache.js'
import type { IdempotencyOutcome, ResolvedOptions } from './options.js'
import { decodeResult, encodeNotStored, encodeResult, packResult, unpackResult } from './result-codec.js'
import type { ClaimOutcome, ClaimRequest, StoredRecord } from './stores/store.js'

/** A key this invocation holds: what it needs to complete or release it. */
export interface Claim {
  id: string
  owner: string
  fingerprint: string | undefined
  /** What the running work sees through `currentClaim()`. */
  handle: CurrentClaim
  /** A completion the work committed (or was handed) inside its own transaction. */
  transaction: { state?: TransactionState }
}

/** What to do with a call: run it unprotected (no key, not required), replay, or run under a claim. */
export type Decision =
  | { action: 'bypass' }
  | { action: 'replay'; result: unknown }
  | { action: 'run'; claim: Claim }

/** The claim / complete / release protocol behind every entry point. */
export interface Protocol<TInput> {
  /**
   * Reads the key, then claims it, replays its result, or throws an `IdempotencyError`. A call
   * inside a durable execution (`durableExecutionArn`) re-enters the claim of its own earlier
   * replays instead of meeting it as a duplicate in progress.
   */
  begin(input: TInput, context: Context | undefined, durableExecutionArn?: string): Promise<Decision>
  /**
   * Stores the result of a claimed call. Never makes the work run again: a failed or fenced
   * completion is logged and the caller still gets its result. A result that cannot be stored is
   * recorded as such: this caller gets its result, every retry an `IdempotencyResultError`.
   * @throws IdempotencyResultError when a transactional completion committed another result.
   */
  complete(claim: Claim, result: unknown): Promise<void>
  /** Gives the key up after the work failed, so a retry runs. Never throws. */
  release(claim: Claim): Promise<void>
  /**
   * Leaves the key claimed after the invocation timed out: its work may have taken effect, so the
   * key is never released; it frees itself when the lease ends (or stays blocked with
   * `abandoned: 'block'`).
   */
  keep(claim: Claim, reason: string): void
}

// Delays between polls while waiting for another invocation's result (`inProgress: { waitMs }`).
const FIRST_POLL_MS = 20
const MAX_POLL_MS = 250
// A failed completion is tried once more after this pause (the SDK has already retried by then).
const COMPLETE_RETRY_DELAY_MS = 100
// 9999-12-31T23:59:59Z: the expiry of a claim that must never free itself (`abandoned: 'block'`).
const NEVER_SECONDS = 253_402_300_799
// The longest Retry-After of a 409: a hint to come back soon, not the whole lease, which can be the
// Lambda function's whole remaining time (up to 15 minutes).
const MAX_RETRY_AFTER_SECONDS = 2

// Outcomes that mean something went wrong: they are logged as well as reported to onEvent.
const warnings: Partial<Record<IdempotencyOutcome, string>> = {
  fenced: 'the lease ended and another invocation took the key over; this invocation wrote nothing',
  lost: 'the record of this claim is gone from the store (deleted, evicted or lost in a restart); the result was not stored',
  'timed-out':
    'the invocation timed out; the key stays claimed until its lease ends, since the work may have taken effect',
  'complete-failed': 'could not store the result; the key stays claimed until its lease ends',
  'release-failed': 'could not release the key; a retry can run once the lease ends',
  'not-stored':
    'the work ran but its result could not be stored for replay; it will not run again for this key',
  abandoned: 'an earlier invocation lost its lease before finishing; the key is blocked until released',
}

/** Builds the protocol once per middleware or wrapped function; it holds no per-request state. */
export const createProtocol = <TInput>(options: ResolvedOptions<TInput>): Protocol<TInput> => {
  const { store, now, ttlSeconds, logger, onEvent } = options
  const cache = new LocalCache(options.localCache)
  const block = options.abandoned === 'block'

  const report = (outcome: IdempotencyOutcome, id: string, details: Record<string, unknown> = {}) => {
    const message = warnings[outcome]
    if (message !== undefined) logger?.warn(`lambda-idempotency: ${message}`, { id, outcome, ...details })
    if (onEvent === undefined) return
    try {
      onEvent({ outcome, id, ...details })
    } catch (error) {
      logger?.warn('lambda-idempotency: the onEvent hook threw; ignored', { id, error: describeError(error) })
    }
  }

  const replay = (id: string, stored: string, cached: boolean): Decision => {
    report('replayed', id, { cached })
    return { action: 'replay', result: decodeResult(unpackResult(stored)) }
  }

  const begin = async (
    input: TInput,
    context: Context | undefined,
    durableExecutionArn?: string,
  ): Promise<Decision> => {
    let identity: ReturnType<typeof identify>
    try {
      identity = identify(options, input, context)
    } catch (error) {
      // A configuration that this input shows to be wrong: tell the developer, not only the caller.
      if (error instanceof IdempotencyConfigError) logger?.warn(`lambda-idempotency: ${error.message}`)
      throw error
    }
    if (identity === undefined) return { action: 'bypass' }
    const { id, fingerprint } = identity

    const cached = cache.get(id, now())
    if (cached !== undefined) {
      if (cached.fingerprint !== fingerprint) {
        report('mismatch', id)
        throw new IdempotencyKeyReusedError()
      }
      return replay(id, cached.result, true)
    }

    // A durable execution owns its claim across all its replays; any other call owns its own.
    const durable = durableExecutionArn !== undefined
    const owner = durable ? durableOwner(durableExecutionArn) : randomUUID()
    const waitUntil = performance.now() + options.waitMs
    for (let delay = FIRST_POLL_MS; ; delay = Math.min(delay * 2, MAX_POLL_MS)) {
      const nowMs = now()
      // A durable execution spans many invocations and waits: its lease is its own timeout,
      // renewed by every replay, not what is left of the current invocation.
      const leaseExpiresAtMs =
        nowMs + (durable ? options.durableTimeoutSeconds * 1000 : leaseFor(options, context))
      const request: ClaimRequest = {
        id,
        owner,
        fingerprint,
        leaseExpiresAtMs,
        // A claim must outlive its lease, or expiry would free the key while the work runs; a
        // blocking claim never expires by itself.
        expiresAtSeconds: block
          ? NEVER_SECONDS
          : Math.max(expirySeconds(nowMs, ttlSeconds), Math.ceil(leaseExpiresAtMs / 1000)),
        nowMs,
        keepAbandoned: block,
        reentrant: durable,
      }
      let outcome: ClaimOutcome
      try {
        outcome = await store.claim(request)
      } catch (error) {
        report('claim-failed', id, { error: describeError(error) })
        throw new IdempotencyStoreError('claim', error)
      }
      if (outcome.claimed) {
        report('claimed', id)
        const transaction: Claim['transaction'] = {}
        const handle = claimHandle({
          id,
          owner,
          store,
          transaction,
          encode: (value) => encodeOrThrow(value, store.maxResultBytes, options.compressAboveBytes),
          expiresAtSeconds: () => expirySeconds(now(), ttlSeconds),
        })
        return { action: 'run', claim: { id, owner, fingerprint, handle, transaction } }
      }

      const { existing } = outcome
      if (existing.fingerprint !== fingerprint) {
        report('mismatch', id)
        throw new IdempotencyKeyReusedError()
      }
      if (existing.status === 'COMPLETED') {
        cache.set(id, {
          fingerprint,
          result: existing.result ?? 'null',
          expiresAtMs: existing.expiresAtSeconds * 1000,
        })
        return replay(id, existing.result ?? 'null', false)
      }
      if (block && (existing.leaseExpiresAtMs ?? 0) <= nowMs) {
        report('abandoned', id)
        throw new IdempotencyAbandonedError(id)
      }

      // Still in progress: answer now, or poll with the claim itself, which also takes the key
      // over (and runs the work) if the first invocation fails and releases it meanwhile.
      const remainingWaitMs = waitUntil - performance.now()
      if (remainingWaitMs <= 0) {
        report('in-progress', id)
        throw new IdempotencyInProgressError(retryAfterSeconds(existing, nowMs))
      }
      await sleep(Math.min(delay, remainingWaitMs))
    }
  }

  const complete = async (claim: Claim, value: unknown): Promise<void> => {
    if (claim.transaction.state !== undefined)
      return completeTransaction(claim, claim.transaction.state, value)
    const { stored, failure } = encodeForStore(value, store.maxResultBytes, options.compressAboveBytes)
    const expiresAtSeconds = expirySeconds(now(), ttlSeconds)
    for (let attempt = 1; ; attempt++) {
      try {
        // `false` can also answer a retry whose first attempt did complete (its answer was lost):
        // the record tells which.
        const holder = (await store.complete(claim.id, claim.owner, stored, expiresAtSeconds))
          ? 'self'
          : await completedBy(claim)
        if (holder === 'self') {
          cache.set(claim.id, {
            fingerprint: claim.fingerprint,
            result: stored,
            expiresAtMs: expiresAtSeconds * 1000,
          })
          report(failure === undefined ? 'completed' : 'not-stored', claim.id)
        } else {
          report(holder === 'nobody' ? 'lost' : 'fenced', claim.id, { step: 'complete' })
        }
        break
      } catch (error) {
        if (attempt === 2) {
          report('complete-failed', claim.id, { error: describeError(error) })
          break
        }
        await sleep(COMPLETE_RETRY_DELAY_MS)
      }
    }
    // A result that cannot be stored is recorded as such (retries get the IdempotencyResultError)
    // and logged (`not-stored`); the invocation that did the work still answers with its own result.
  }

  // The work completed its claim in its own transaction: nothing more is written after a commit.
  const completeTransaction = async (
    claim: Claim,
    state: TransactionState,
    value: unknown,
  ): Promise<void> => {
    if (state.status === 'issued' && (await completedBy(claim)) !== 'self') {
      await release(claim)
      throw new IdempotencyConfigError(
        'completionItem()',
        'committed in a transaction before the work returns; the key was released and nothing is stored',
        'an item that was never committed',
      )
    }
    cache.set(claim.id, {
      fingerprint: claim.fingerprint,
      result: state.stored,
      expiresAtMs: state.expiresAtSeconds * 1000,
    })
    report('completed', claim.id, { transactional: true })
    const { stored } = encodeForStore(value, store.maxResultBytes, options.compressAboveBytes)
    if (stored !== state.stored) throw committedOtherResult()
  }

  // Who holds the claim's record now: this invocation's completed record, another owner, or nobody.
  const completedBy = async (claim: Claim): Promise<'self' | 'other' | 'nobody'> => {
    const record = await store.get(claim.id)
    if (record === undefined) return 'nobody'
    return record.owner === claim.owner && record.status === 'COMPLETED' ? 'self' : 'other'
  }

  const release = async (claim: Claim): Promise<void> => {
    try {
      const owned = await store.release(claim.id, claim.owner)
      if (owned) {
        report('released', claim.id, { step: 'release' })
        return
      }
      // A work that committed its completion in a transaction and then threw keeps its record.
      const holder = await completedBy(claim)
      report(holder === 'self' ? 'completed' : holder === 'nobody' ? 'lost' : 'fenced', claim.id, {
        step: 'release',
      })
    } catch (error) {
      report('release-failed', claim.id, { error: describeError(error) })
    }
  }

  const keep = (claim: Claim, reason: string): void => {
    report('timed-out', claim.id, { error: reason })
  }

  return { begin, complete, release, keep }
}

const leaseFor = (options: { leaseMs: number }, context: Context | undefined): number => {
  const remaining =
    typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : Number.NaN
  // Zero remaining time is a real reading (the invocation is about to time out), not "unknown".
  return Number.isFinite(remaining) && remaining >= 0 ? remaining : options.leaseMs
}

const retryAfterSeconds = (record: StoredRecord, nowMs: number): number =>
  Math.min(
    MAX_RETRY_AFTER_SECONDS,
    Math.max(1, Math.ceil(((record.leaseExpiresAtMs ?? nowMs) - nowMs) / 1000)),
  )

// Expiry in whole seconds (DynamoDB's TTL unit), rounded up: a result is never replayed for less
// than ttlSeconds.
const expirySeconds = (nowMs: number, ttlSeconds: number): number =>
  Math.ceil((nowMs + ttlSeconds * 1000) / 1000)

/** The text to store for a result, or the `IdempotencyResultError` that refuses it. */
const encodeOrThrow = (value: unknown, maxBytes: number, compressAboveBytes: number): string => {
  const { stored, failure } = encodeForStore(value, maxBytes, compressAboveBytes)
  if (failure !== undefined) throw failure
  return stored
}

/** The text to store for a result: the encoded value, or the "not stored" marker and its reason. */
const encodeForStore = (
  value: unknown,
  maxBytes: number,
  compressAboveBytes: number,
): { stored: string; failure?: IdempotencyResultError } => {
  let failure: IdempotencyResultError
  try {
    const stored = packResult(encodeResult(value), compressAboveBytes)
    // A UTF-16 unit is at most 3 UTF-8 bytes: skip the byte count when it cannot matter.
    const bytes = stored.length * 3 <= maxBytes ? 0 : Buffer.byteLength(stored)
    if (bytes <= maxBytes) return { stored }
    failure = new IdempotencyResultError(
      `the result is ${bytes} bytes once encoded and compressed; the store holds at most ${maxBytes}`,
    )
  } catch (error) {
    if (!(error instanceof IdempotencyResultError)) throw error
    failure = error
  }
  return { stored: encodeNotStored(failure.reason), failure }
}
