import type { ClaimOutcome, ClaimRequest, StoredRecord } from '../../src/index.js'

/*
 * The store contract as a reference model: a map of records and the three writes, written from the
 * contract in `src/stores/store.ts`, not from any store's code (it does not import `isFree`).
 *
 * - A claim succeeds when the id has no record, its record has expired on the caller's clock
 *   (`expiresAtSeconds * 1000 <= nowMs`, whether or not a TTL sweep has removed it), or its record
 *   is IN_PROGRESS with a lease that ended on the caller's clock (unless `keepAbandoned`).
 *   A `reentrant` claim also succeeds on an IN_PROGRESS record of its own owner, whatever its
 *   lease (a durable execution replaying its handler). Otherwise it reports the record that holds
 *   the id, unchanged.
 * - complete and release act only on an IN_PROGRESS record held by the same owner.
 */

/** One operation on a store, with the caller's clock reading where the contract uses one. */
export type StoreOp =
  | { op: 'claim'; request: ClaimRequest }
  | { op: 'complete'; id: string; owner: string; result: string; expiresAtSeconds: number }
  | { op: 'release'; id: string; owner: string }

/** What a store answered to an operation. */
export type OpAnswer = ClaimOutcome | boolean

/** The records of the model, by id. */
export type ModelState = Map<string, StoredRecord>

const expired = (record: StoredRecord, nowMs: number) => record.expiresAtSeconds * 1000 <= nowMs
const leaseEnded = (record: StoredRecord, nowMs: number) =>
  record.status === 'IN_PROGRESS' && (record.leaseExpiresAtMs ?? 0) <= nowMs

/** Applies one operation to the model (in place) and returns the one answer the contract allows. */
export const applyOp = (state: ModelState, step: StoreOp): OpAnswer => {
  switch (step.op) {
    case 'claim': {
      const { request } = step
      const held = state.get(request.id)
      const free =
        held === undefined ||
        expired(held, request.nowMs) ||
        (!request.keepAbandoned && leaseEnded(held, request.nowMs)) ||
        (request.reentrant === true && held.status === 'IN_PROGRESS' && held.owner === request.owner)
      if (!free) return { claimed: false, existing: { ...held } }
      state.set(request.id, {
        id: request.id,
        status: 'IN_PROGRESS',
        owner: request.owner,
        fingerprint: request.fingerprint,
        leaseExpiresAtMs: request.leaseExpiresAtMs,
        expiresAtSeconds: request.expiresAtSeconds,
      })
      return { claimed: true }
    }
    case 'complete': {
      const held = state.get(step.id)
      if (held?.status !== 'IN_PROGRESS' || held.owner !== step.owner) return false
      state.set(step.id, {
        id: step.id,
        status: 'COMPLETED',
        owner: step.owner,
        fingerprint: held.fingerprint,
        expiresAtSeconds: step.expiresAtSeconds,
        result: step.result,
      })
      return true
    }
    case 'release': {
      const held = state.get(step.id)
      if (held?.status !== 'IN_PROGRESS' || held.owner !== step.owner) return false
      state.delete(step.id)
      return true
    }
  }
}

/** A record with its absent fields dropped, so every store's spelling of "absent" compares equal. */
export const normalize = (record: StoredRecord | undefined): Record<string, unknown> | undefined => {
  if (record === undefined) return undefined
  const fields: Record<string, unknown> = {
    id: record.id,
    status: record.status,
    owner: record.owner,
    fingerprint: record.fingerprint,
    leaseExpiresAtMs: record.status === 'IN_PROGRESS' ? record.leaseExpiresAtMs : undefined,
    expiresAtSeconds: record.expiresAtSeconds,
    result: record.status === 'COMPLETED' ? record.result : undefined,
  }
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined))
}

/** An answer with its record normalized, for comparison. */
export const normalizeAnswer = (answer: OpAnswer): unknown =>
  typeof answer === 'boolean' || answer.claimed
    ? answer
    : { claimed: false, existing: normalize(answer.existing) }

/** A copy of the model's records. */
export const cloneState = (state: ModelState): ModelState =>
  new Map([...state].map(([id, record]) => [id, { ...record }]))
