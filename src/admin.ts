import { IdempotencyConfigError } from './errors.js'
import { recordId } from './key.js'
import type { IdempotencyStore, RecordStatus } from './stores/store.js'

/**
 * Which record to act on: its hashed `id` (as logs and `IdempotencyAbandonedError` show it), or the
 * raw key with the namespace it was used in.
 */
export type KeyReference =
  | { id: string }
  | {
      key: string
      /** The Lambda function's name (`context.functionName`). @default '' */
      functionName?: string
      /** The wrapped function's name, for `makeIdempotent`. @default '' */
      name?: string
      /** The scope, e.g. the HTTP caller (`jwt:<iss>:<sub>`) or your tenant. @default '' */
      scope?: string
    }

/** What an operator needs to decide about a key. The stored result itself is left out. */
export interface KeyInspection {
  id: string
  status: RecordStatus
  /** For `IN_PROGRESS`: whether the owner's lease has ended (the invocation died or timed out). */
  abandoned: boolean
  leaseExpiresAt: Date | undefined
  expiresAt: Date
  hasResult: boolean
}

const idOf = (reference: KeyReference): string => {
  if ('id' in reference) {
    if (typeof reference.id !== 'string' || reference.id === '') {
      throw new IdempotencyConfigError('id', 'a record id', reference.id)
    }
    return reference.id
  }
  if (typeof reference.key !== 'string' || reference.key === '') {
    throw new IdempotencyConfigError('key', 'a non-empty string', reference.key)
  }
  const { functionName = '', name = '', scope = '' } = reference
  return recordId({ functionName, name, scope }, reference.key)
}

/**
 * Reads a key's record, for operators: is it stuck, since when, until when.
 *
 * @example
 * await inspectKey(store, { id: error.id }) // { status: 'IN_PROGRESS', abandoned: true, ... }
 */
export const inspectKey = async (
  store: IdempotencyStore,
  reference: KeyReference,
  nowMs: number = Date.now(),
): Promise<KeyInspection | undefined> => {
  const record = await store.get(idOf(reference))
  if (record === undefined) return undefined
  return {
    id: record.id,
    status: record.status,
    abandoned: record.status === 'IN_PROGRESS' && (record.leaseExpiresAtMs ?? 0) <= nowMs,
    leaseExpiresAt: record.leaseExpiresAtMs === undefined ? undefined : new Date(record.leaseExpiresAtMs),
    expiresAt: new Date(record.expiresAtSeconds * 1000),
    hasResult: record.result !== undefined,
  }
}

/** Options of {@link releaseKey}. */
export interface ReleaseKeyOptions {
  /**
   * Release a claim whose lease is still live. Its invocation may still be running, and the next
   * request then runs the work a second time: use it only when you know that invocation is gone.
   * @default false
   */
  force?: boolean
  /** The clock that judges the lease, epoch milliseconds. @default Date.now() */
  nowMs?: number
}

/**
 * Releases a key held by an abandoned `IN_PROGRESS` record (its lease has ended: a blocked or stuck
 * claim), so the next request runs the work. The release is conditioned on the owner read just
 * before, so it never deletes a claim taken in between. Completed records are left alone: they
 * expire with their TTL.
 *
 * @returns `true` when a claim was released.
 * @throws IdempotencyConfigError when the claim's lease is still live (its invocation may still be
 *   running) and `force` is not set.
 * @example
 * await releaseKey(store, { id: error.id }) // after checking that the withdrawal did not happen
 */
export const releaseKey = async (
  store: IdempotencyStore,
  reference: KeyReference,
  options: ReleaseKeyOptions = {},
): Promise<boolean> => {
  const { force = false, nowMs = Date.now() } = options
  const record = await store.get(idOf(reference))
  if (record?.status !== 'IN_PROGRESS') return false
  const leaseEndsAtMs = record.leaseExpiresAtMs ?? 0
  if (leaseEndsAtMs > nowMs && force !== true) {
    throw new IdempotencyConfigError(
      'force',
      `true to release a claim whose lease is still live (until ${new Date(leaseEndsAtMs).toISOString()}): its invocation may still be running`,
      options.force,
    )
  }
  return store.release(record.id, record.owner)
}
