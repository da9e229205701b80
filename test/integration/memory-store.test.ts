import { describe, expect, it } from 'vitest'
import { MemoryStore, makeIdempotent } from '../../src/index.js'
import { describeStoreConformance } from './store-conformance.js'

describeStoreConformance('MemoryStore', async () => {
  const store = new MemoryStore()
  let requests = 0
  const counted = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        requests++
        return value.apply(target, args)
      }
    },
  })
  return {
    store: counted,
    requests: () => requests,
    dump: async () => JSON.stringify(store.records()),
  }
})

describe('MemoryStore specifics', () => {
  it('lists every record and forgets them all on clear()', async () => {
    const store = new MemoryStore()
    const work = makeIdempotent(async (n: number) => n * 2, { store, name: 'double', logger: false })
    await work(1)
    await work(2)
    expect(store.records().map((record) => record.status)).toEqual(['COMPLETED', 'COMPLETED'])
    store.clear()
    expect(store.records()).toEqual([])
    let runs = 0
    const counted = makeIdempotent(async (n: number) => ++runs + n, { store, name: 'double', logger: false })
    await counted(1)
    expect(runs).toBe(1) // the cleared record no longer replays
  })
})
