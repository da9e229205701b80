import { MemoryStore } from '../../src/index.js'
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
