/** A completed result held in process memory. */
export interface CachedResult {
  fingerprint: string | undefined
  /** The encoded result, decoded afresh for each replay so callers never share one object. */
  result: string
  expiresAtMs: number
}

/**
 * A bounded least-recently-used map of completed results. A `Map` iterates in insertion order, so
 * re-inserting on every hit keeps the least recently used entry first, ready to be evicted.
 */
export class LocalCache {
  readonly #maxEntries: number
  readonly #entries = new Map<string, CachedResult>()

  constructor(maxEntries: number) {
    this.#maxEntries = maxEntries
  }

  get(id: string, nowMs: number): CachedResult | undefined {
    const entry = this.#entries.get(id)
    if (entry === undefined) return undefined
    this.#entries.delete(id)
    if (entry.expiresAtMs <= nowMs) return undefined
    this.#entries.set(id, entry)
    return entry
  }

  set(id: string, entry: CachedResult): void {
    if (this.#maxEntries === 0) return
    this.#entries.delete(id)
    this.#entries.set(id, entry)
    if (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value
      if (oldest !== undefined) this.#entries.delete(oldest)
    }
  }
}
