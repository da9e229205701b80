/**
 * Runs `work` for every item, at most `limit` at a time, starting them in the items' order, and
 * resolves once every one has finished. A rejection does not stop the others: the first one is
 * rethrown after all have settled, so nothing keeps running behind the caller's back.
 *
 * @example
 * await forEachBounded(records, 10, async (record) => process(record)) // never more than 10 at once
 */
export const forEachBounded = async <T>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> => {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new RangeError(`limit must be a positive integer, got ${String(limit)}`)
  }
  let next = 0
  const failures: unknown[] = []
  // Each worker takes the next item when it is free: `limit` workers, never more items at once.
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++
      try {
        await work(items[index] as T, index)
      } catch (error) {
        failures.push(error)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  if (failures.length > 0) throw failures[0]
}
