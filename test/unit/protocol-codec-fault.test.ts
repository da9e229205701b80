import { describe, expect, it, vi } from 'vitest'
import { MemoryStore, makeIdempotent } from '../../src/index.js'
import type * as codec from '../../src/result-codec.js'

// A fault inside the result codec other than a refused result (a bug, an allocation failure) is
// not recorded as "this result cannot be stored": it is passed on, and the claim is left to its lease.
vi.mock('../../src/result-codec.js', async (importOriginal) => {
  const actual = await importOriginal<typeof codec>()
  return {
    ...actual,
    packResult: (text: string, thresholdBytes: number) => {
      if (text.includes('codec-fault')) throw new RangeError('the codec failed')
      return actual.packResult(text, thresholdBytes)
    },
  }
})

describe('the protocol meets a codec fault', () => {
  it('passes the fault on and stores no "not stored" marker for the key', async () => {
    const store = new MemoryStore()
    let runs = 0
    const work = makeIdempotent(
      async (input: string) => {
        runs++
        return input
      },
      { store, name: 'codec', logger: false },
    )
    await expect(work('codec-fault')).rejects.toThrow(RangeError)
    expect(runs).toBe(1)
    const [record] = store.records()
    expect(record).toMatchObject({ status: 'IN_PROGRESS' })
    await expect(work('fine')).resolves.toBe('fine')
  })
})
