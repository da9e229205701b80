import {
  type ClaimOutcome,
  type ClaimRequest,
  type IdempotencyStore,
  isFree,
  reenters,
  type StoredRecord,
} from './store.js'

/** Options of {@link MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * The largest encoded result accepted, in UTF-8 bytes.
   * @default 400_000 (about what a DynamoDB item holds, so local runs fail where AWS would)
   */
  maxResultBytes?: number
}

/**
 * An in-process store with the same semantics as `DynamoDBStore`, for tests and local runs. Its
 * records live only as long as the process and are not shared between Lambda instances: never use
 * it in production.
 *
 * @example
 * const handler = middy(charge).use(idempotent({ store: new MemoryStore() }))
 */
export class MemoryStore implements IdempotencyStore {
  readonly maxResultBytes: number
  readonly #records = new Map<string, StoredRecord>()

  constructor(options: MemoryStoreOptions = {}) {
    this.maxResultBytes = options.maxResultBytes ?? 400_000
  }

  async claim(request: ClaimRequest): Promise<ClaimOutcome> {
    const existing = this.#records.get(request.id)
    if (
      existing !== undefined &&
      !isFree(existing, request.nowMs, request.keepAbandoned) &&
      !reenters(existing, request)
    ) {
      return { claimed: false, existing: { ...existing } }
    }
    this.#records.set(request.id, {
      id: request.id,
      status: 'IN_PROGRESS',
      owner: request.owner,
      fingerprint: request.fingerprint,
      leaseExpiresAtMs: request.leaseExpiresAtMs,
      expiresAtSeconds: request.expiresAtSeconds,
    })
    return { claimed: true }
  }

  async complete(id: string, owner: string, result: string, expiresAtSeconds: number): Promise<boolean> {
    const record = this.#owned(id, owner)
    if (record === undefined) return false
    this.#records.set(id, {
      id,
      status: 'COMPLETED',
      owner,
      fingerprint: record.fingerprint,
      expiresAtSeconds,
      result,
    })
    return true
  }

  async release(id: string, owner: string): Promise<boolean> {
    if (this.#owned(id, owner) === undefined) return false
    this.#records.delete(id)
    return true
  }

  async get(id: string): Promise<StoredRecord | undefined> {
    const record = this.#records.get(id)
    return record === undefined ? undefined : { ...record }
  }

  /** A snapshot of every record, expired ones included (until the next claim replaces them). */
  records(): StoredRecord[] {
    return [...this.#records.values()].map((record) => ({ ...record }))
  }

  /** Removes every record. */
  clear(): void {
    this.#records.clear()
  }

  #owned(id: string, owner: string): StoredRecord | undefined {
    const record = this.#records.get(id)
    return record?.status === 'IN_PROGRESS' && record.owner === owner ? record : undefined
  }
}
