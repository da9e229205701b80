import { type ClaimOutcome, type ClaimRequest, MemoryStore } from '../../src/index.js'

/*
 * Deliberately broken stores, each with one bug an idempotency store could plausibly have. The
 * model check must fail on every one of them: a check that passes a broken store proves nothing.
 * They are MemoryStores with one method replaced; nothing here is reachable from `src/`.
 */

// Deletes a record whatever its state, through MemoryStore's own methods (its map is private): a
// claim that finds every record expired, then the release of that claim.
const forget = async (store: MemoryStore, id: string) => {
  const owner = '\u0000mutant'
  const takeAll = { id, owner, leaseExpiresAtMs: 0, expiresAtSeconds: 0, nowMs: Number.MAX_SAFE_INTEGER }
  await MemoryStore.prototype.claim.call(store, takeAll)
  await MemoryStore.prototype.release.call(store, id, owner)
}

/** release deletes the record whoever holds it: a late invocation frees its successor's key. */
export class UnconditionalReleaseStore extends MemoryStore {
  override async release(id: string, _owner: string): Promise<boolean> {
    if ((await this.get(id)) === undefined) return false
    await forget(this, id)
    return true
  }
}

/** complete marks any IN_PROGRESS record completed, without checking that the caller owns it. */
export class CompleteWithoutOwnerCheckStore extends MemoryStore {
  override async complete(id: string, _owner: string, result: string, expiresAtSeconds: number) {
    const record = await this.get(id)
    if (record?.status !== 'IN_PROGRESS') return false
    return super.complete(id, record.owner, result, expiresAtSeconds)
  }
}

/**
 * The claim compares the expiry (epoch seconds) with the clock in milliseconds, as a condition
 * `#expiration <= :nowMs` would: every record looks expired, and every claim takes its key.
 */
export class ExpiryInWrongUnitStore extends MemoryStore {
  override async claim(request: ClaimRequest): Promise<ClaimOutcome> {
    const held = await this.get(request.id)
    if (held !== undefined && held.expiresAtSeconds <= request.nowMs) {
      await forget(this, request.id)
    }
    return super.claim(request)
  }
}

/**
 * The claim judges the lease against the new claim's own lease end instead of the clock, so a
 * claim takes over an IN_PROGRESS record whose lease ends before the new one would: at once.
 */
export class EarlyTakeoverStore extends MemoryStore {
  override async claim(request: ClaimRequest): Promise<ClaimOutcome> {
    const held = await this.get(request.id)
    if (
      held?.status === 'IN_PROGRESS' &&
      !request.keepAbandoned &&
      (held.leaseExpiresAtMs ?? 0) <= request.leaseExpiresAtMs
    ) {
      return super.claim({ ...request, nowMs: Math.max(request.nowMs, held.leaseExpiresAtMs ?? 0) })
    }
    return super.claim(request)
  }
}

/**
 * A reentrant claim (a durable execution's replay) re-enters any IN_PROGRESS record, not only its
 * own owner's: a second execution with the same key takes the first one's claim over.
 */
export class ReentryWithoutOwnerCheckStore extends MemoryStore {
  override async claim(request: ClaimRequest): Promise<ClaimOutcome> {
    const held = await this.get(request.id)
    if (request.reentrant === true && held?.status === 'IN_PROGRESS') {
      // Claims as if the holder's lease had ended, whoever the holder is.
      return super.claim({ ...request, nowMs: Math.max(request.nowMs, held.leaseExpiresAtMs ?? 0) })
    }
    return super.claim(request)
  }
}

/** Every mutant, by the bug it has. */
export const mutants = {
  'unconditional release': UnconditionalReleaseStore,
  'complete without the owner check': CompleteWithoutOwnerCheckStore,
  'expiry compared in the wrong unit': ExpiryInWrongUnitStore,
  'takeover before the lease ends': EarlyTakeoverStore,
} as const

/**
 * Mutants of the reentrant claim, which only a durable execution's replay sends: the store model
 * generates such claims, the protocol model (plain calls) does not.
 */
export const reentryMutants = {
  're-entry without the owner check': ReentryWithoutOwnerCheckStore,
} as const
