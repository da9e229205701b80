import { describe, expect, it } from 'vitest'
import { IdempotencyConfigError, idempotent, MemoryStore, makeIdempotent } from '../../src/index.js'

const store = new MemoryStore()

describe('options', () => {
  it.each([
    [{ ttlSeconds: 0 }, /option "ttlSeconds" must be a positive integer, got 0/],
    [{ ttlSeconds: 1.5 }, /option "ttlSeconds" must be a positive integer, got 1.5/],
    [{ ttlSeconds: '60' }, /option "ttlSeconds" must be a positive integer, got "60"/],
    [{ leaseMs: -1 }, /option "leaseMs" must be a positive integer, got -1/],
    [{ localCache: -1 }, /option "localCache" must be a non-negative integer, got -1/],
    [{ inProgress: 'wait' }, /option "inProgress" must be 'reject' or \{ waitMs: number \}, got "wait"/],
    [{ inProgress: { waitMs: 0 } }, /option "inProgress.waitMs" must be a positive integer, got 0/],
    [{ key: 'headers.idempotency-key' }, /option "key" must be a function, got "headers.idempotency-key"/],
    [{ fingerprint: true }, /option "fingerprint" must be a function, got true/],
    [{ scope: 42 }, /option "scope" must be a string or a function, got 42/],
    [{ required: 'yes' }, /option "required" must be a boolean, got "yes"/],
    [{ now: 5 }, /option "now" must be a function, got 5/],
    [{ logger: {} }, /option "logger" must be an object with a warn\(\) method, or false, got \{\}/],
  ])('rejects %j when the factory runs, naming the option and the value', (invalid, message) => {
    const create = () => idempotent({ store, ...(invalid as object) })
    expect(create).toThrow(IdempotencyConfigError)
    expect(create).toThrow(message)
  })

  it('requires a store', () => {
    expect(() => idempotent({} as never)).toThrow(
      /option "store" must be an IdempotencyStore \(missing claim\(\)\)/,
    )
    expect(() => idempotent(undefined as never)).toThrow(/option "options" must be an object/)
  })

  it('treats an option set to undefined as its default', () => {
    expect(() => idempotent({ store, ttlSeconds: undefined, inProgress: undefined })).not.toThrow()
  })

  it('names an anonymous wrapped function after its source, so two of them never share records', async () => {
    const shared = new MemoryStore()
    const first = makeIdempotent(async (n: number) => `first ${n}`, { store: shared })
    const second = makeIdempotent(async (n: number) => `second ${n}`, { store: shared })
    await expect(first(1)).resolves.toBe('first 1')
    await expect(second(1)).resolves.toBe('second 1')
    await expect(first(1)).resolves.toBe('first 1')
    expect(() => makeIdempotent(async () => 1, { store, name: '' })).toThrow(
      /option "name" must be a non-empty string, got ""/,
    )
  })

  it('gives config errors a stable code and a 500 that is not exposed to clients', () => {
    const error = (() => {
      try {
        idempotent({ store, ttlSeconds: 0 })
      } catch (caught) {
        return caught
      }
    })()
    expect(error).toMatchObject({ code: 'IDEMPOTENCY_INVALID_OPTION', statusCode: 500, expose: false })
  })
})
