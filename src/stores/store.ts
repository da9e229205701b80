import type { KeyNamespace } from '../key.js'

/** The two states of a stored record. */
export type RecordStatus = 'IN_PROGRESS' | 'COMPLETED'

/** A record as a store holds it. */
export interface StoredRecord {
  /** The hashed record id (see `recordId`), never the raw key. */
  id: string
  status: RecordStatus
  /** The owner token of the invocation that claimed the key. */
  owner: string
  /** Hash of the request that claimed the key; absent when fingerprinting is off. */
  fingerprint?: string | undefined
  /** While `IN_PROGRESS`: when the owner's lease ends, epoch milliseconds. */
  leaseExpiresAtMs?: number | undefined
  /** When the record stops counting, epoch seconds (the DynamoDB TTL attribute). */
  expiresAtSeconds: number
  /** While `COMPLETED`: the encoded result. */
  result?: string | undefined
}

/** What a claim writes: an `IN_PROGRESS` record, plus the clock reading its condition uses. */
export interface ClaimRequest {
  id: string
  owner: string
  fingerprint?: string | undefined
  leaseExpiresAtMs: number
  expiresAtSeconds: number
  /** The caller's clock, epoch milliseconds: the store compares expiry and lease against it. */
  nowMs: number
  /**
   * When true, an `IN_PROGRESS` record whose lease has ended is NOT taken over: the claim fails and
   * reports it, so work that must never re-run automatically stays blocked. @default false
   */
  keepAbandoned?: boolean
  /**
   * When true, an `IN_PROGRESS` record that `owner` itself holds is claimed again, its lease and
   * expiry renewed, whether or not its lease has ended: the owner is one durable execution, whose
   * every replay runs the handler from the start. A completed record is never claimed again.
   * @default false
   */
  reentrant?: boolean
}

/** The outcome of a claim: taken, or the live record that holds the key. */
export type ClaimOutcome = { claimed: true } | { claimed: false; existing: StoredRecord }

/**
 * Where idempotency records live. Every implementation keeps the same promises, proven by one
 * conformance suite (`test/integration/store-conformance.ts`):
 *
 * - `claim` is atomic: of any number of concurrent claims on a free id, exactly one succeeds.
 *   An id is free when it has no record, its record has expired (`expiresAtSeconds` passed,
 *   whether or not the store has deleted it yet), or its record is `IN_PROGRESS` with a lease
 *   that has ended (the owner is presumed dead and is taken over), unless the request says
 *   `keepAbandoned`. A `reentrant` request also claims an `IN_PROGRESS` record of its own owner.
 *   See {@link isFree} and {@link reenters}.
 * - `complete` and `release` act only while `owner` still owns the `IN_PROGRESS` record, and
 *   report `false` otherwise (fenced: a late invocation never touches its successor's record).
 *
 * @example
 * const outcome = await store.claim({ id, owner, leaseExpiresAtMs, expiresAtSeconds, nowMs: Date.now() })
 * if (!outcome.claimed) console.log(outcome.existing.status)
 */
export interface IdempotencyStore {
  /** Claims the id with an `IN_PROGRESS` record, or reports the record that holds it. */
  claim(request: ClaimRequest): Promise<ClaimOutcome>
  /** Marks the owner's record `COMPLETED` with its result; `false` when no longer the owner. */
  complete(id: string, owner: string, result: string, expiresAtSeconds: number): Promise<boolean>
  /** Deletes the owner's `IN_PROGRESS` record so a retry can run; `false` when no longer the owner. */
  release(id: string, owner: string): Promise<boolean>
  /** Reads a record (strongly consistent), or `undefined`. For inspection and administration. */
  get(id: string): Promise<StoredRecord | undefined>
  /**
   * The largest encoded result, in UTF-8 bytes, this store can hold. Larger results are not
   * stored; the record is completed with an `IdempotencyResultError` instead.
   */
  readonly maxResultBytes: number
  /**
   * How this store derives a record id from the namespace and the key, when it has its own record
   * format (the Powertools format). @default `recordId`: SHA-256 over the namespace and the key
   */
  recordId?(namespace: KeyNamespace, key: string): string
}

/** The completion of a claim, to be committed inside the caller's own transaction. */
export interface TransactionalCompletion {
  id: string
  owner: string
  /** The encoded result, as `complete` would store it. */
  result: string
  expiresAtSeconds: number
}

/** The form of a `TransactWriteItems` item: attribute values (`{ S: 'x' }`) or plain values. */
export type TransactionItemForm = 'low-level' | 'document'

/**
 * A store that can complete a claim inside a transaction of the caller's own writes (DynamoDB's
 * `TransactWriteItems`): the business writes and the record commit together or not at all.
 */
export interface TransactionalStore {
  /** The largest number of items one transaction holds, the completion included. */
  readonly maxTransactionItems: number
  /**
   * The completion as one item of a transaction: the record `COMPLETED` with its result,
   * conditioned on `owner` and `IN_PROGRESS`.
   */
  transactionItem(completion: TransactionalCompletion, form: TransactionItemForm): unknown
  /**
   * Sends `items` and the completion in one transaction through `client`. Resolves `true` once
   * committed, `false` when the completion's condition cancelled it (the claim is no longer this
   * owner's: nothing was written). Any other failure is thrown as the client threw it.
   */
  transactWrite(
    client: unknown,
    items: readonly unknown[],
    completion: TransactionalCompletion,
  ): Promise<boolean>
}

/** True when the store can join a transaction. */
export const isTransactional = (store: IdempotencyStore): store is IdempotencyStore & TransactionalStore =>
  typeof (store as Partial<TransactionalStore>).transactWrite === 'function' &&
  typeof (store as Partial<TransactionalStore>).transactionItem === 'function'

/**
 * True when the record no longer holds its id at `nowMs`: it has expired, or it is an abandoned
 * claim (unless `keepAbandoned`).
 */
export const isFree = (record: StoredRecord, nowMs: number, keepAbandoned = false): boolean =>
  record.expiresAtSeconds * 1000 <= nowMs ||
  (!keepAbandoned && record.status === 'IN_PROGRESS' && (record.leaseExpiresAtMs ?? 0) <= nowMs)

/** True when a `reentrant` claim finds the `IN_PROGRESS` record of its own owner (a durable replay). */
export const reenters = (record: StoredRecord, request: ClaimRequest): boolean =>
  request.reentrant === true && record.status === 'IN_PROGRESS' && record.owner === request.owner
