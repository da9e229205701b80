import { describe, expect, it } from 'vitest'
import { forEachBounded } from '../../../src/sources/bounded-concurrency.js'
import { delay, gate } from '../../helpers/lambda.js'

describe('forEachBounded', () => {
  it('runs every item, never more than the limit at once, and reaches the limit', async () => {
    const limit = 4
    const full = gate()
    let active = 0
    let maxActive = 0
    const done: number[] = []

    await forEachBounded([...Array(11).keys()], limit, async (item) => {
      active++
      maxActive = Math.max(maxActive, active)
      if (active === limit) full.open()
      // The first items wait until the limit is reached; the fallback only keeps a bug from hanging.
      if (item < limit) await Promise.race([full.opened, delay(2_000)])
      done.push(item)
      active--
    })

    expect(done.sort((a, b) => a - b)).toEqual([...Array(11).keys()])
    expect(maxActive).toBe(limit)
  })

  it('starts the items in their order', async () => {
    const started: string[] = []
    await forEachBounded(['a', 'b', 'c', 'd', 'e'], 2, async (item, index) => {
      started.push(`${index}:${item}`)
      await delay(1)
    })
    expect(started).toEqual(['0:a', '1:b', '2:c', '3:d', '4:e'])
  })

  it('lets every item finish before it rethrows the first failure', async () => {
    const finished: number[] = []
    const run = forEachBounded([1, 2, 3, 4], 2, async (item) => {
      if (item === 1) throw new Error('item 1 failed')
      await delay(5)
      finished.push(item)
    })
    await expect(run).rejects.toThrow('item 1 failed')
    expect(finished.sort()).toEqual([2, 3, 4])
  })

  it('does nothing for no items', async () => {
    let calls = 0
    await forEachBounded([], 3, async () => {
      calls++
    })
    expect(calls).toBe(0)
  })

  it('refuses a limit that is not a positive integer, naming it', async () => {
    for (const limit of [0, -1, 1.5, Number.NaN]) {
      await expect(forEachBounded([1], limit, async () => {})).rejects.toThrow(
        `limit must be a positive integer, got ${limit}`,
      )
    }
  })
})
