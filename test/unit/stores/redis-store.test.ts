import { describe, expect, it, vi } from 'vitest'
import { IdempotencyConfigError } from '../../../src/index.js'
import { RedisStore, type RedisStoreClient } from '../../../src/redis.js'

/** A client that answers every command with the given failure, as node-redis rejects. */
const failingClient = (failure: Error): RedisStoreClient => ({
  get: async () => Promise.reject(failure),
  eval: async () => Promise.reject(failure),
  evalSha: async () => Promise.reject(failure),
})

const client = failingClient(new Error('not used'))

const request = {
  id: 'a'.repeat(64),
  owner: 'o',
  leaseExpiresAtMs: 2_000,
  expiresAtSeconds: 60,
  nowMs: 1_000,
}

describe('RedisStore options', () => {
  it('rejects a missing client, or one without the commands it sends, naming what is missing', () => {
    expect(() => new RedisStore(undefined as never)).toThrow(IdempotencyConfigError)
    expect(() => new RedisStore({} as never)).toThrow(/option "client" must be a connected node-redis client/)
    const ioredisLike = { set: () => {}, get: () => {}, eval: () => {}, evalsha: () => {} }
    expect(() => new RedisStore({ client: ioredisLike as never })).toThrow(/it has no evalSha/)
  })

  it('rejects a key prefix, result limit or expiry margin it cannot use, naming the value', () => {
    expect(() => new RedisStore({ client, keyPrefix: 7 as never })).toThrow(
      'option "keyPrefix" must be a string, got 7',
    )
    for (const maxResultBytes of [0, 1.5, Number.NaN, 600 * 1024 * 1024]) {
      expect(() => new RedisStore({ client, maxResultBytes })).toThrow(
        /option "maxResultBytes" must be an integer/,
      )
    }
    expect(() => new RedisStore({ client, expiryMarginSeconds: -1 })).toThrow(
      'option "expiryMarginSeconds" must be a non-negative integer, got -1',
    )
    for (const timeoutMs of [0, -5, 2.5, Number.POSITIVE_INFINITY, '2000' as never]) {
      expect(() => new RedisStore({ client, timeoutMs })).toThrow(
        /option "timeoutMs" must be a positive integer \(milliseconds\)/,
      )
    }
    expect(() => new RedisStore({ client, clock: 'local' as never })).toThrow(
      `option "clock" must be 'caller' or 'server', got "local"`,
    )
  })

  it('holds results of up to 400 000 bytes unless told otherwise, like DynamoDBStore', () => {
    expect(new RedisStore({ client }).maxResultBytes).toBe(400_000)
    expect(new RedisStore({ client, maxResultBytes: 5_000_000 }).maxResultBytes).toBe(5_000_000)
  })
})

describe('RedisStore failures', () => {
  it('explains that a server which refuses SET with NX and GET is older than Redis 7.0', async () => {
    const refusal = new Error('ERR syntax error')
    const store = new RedisStore({ client: failingClient(refusal) })
    const error = await store.claim(request).catch((e: unknown) => e)
    expect((error as Error).message).toMatch(/needs Redis 7.0 or newer, or Valkey/)
    expect((error as Error).cause).toBe(refusal)
  })

  it('gives up on a call Redis does not answer within timeoutMs, naming the operation and the key', async () => {
    const silent: RedisStoreClient = {
      get: () => new Promise(() => {}),
      eval: () => new Promise(() => {}),
      evalSha: () => new Promise(() => {}),
    }
    const store = new RedisStore({ client: silent, keyPrefix: 'p:', timeoutMs: 20 })
    const key = `p:${request.id}`
    await expect(store.claim(request)).rejects.toThrow(`the claim of key "${key}" within 20 ms (timeoutMs)`)
    await expect(store.complete(request.id, 'o', '1', 60)).rejects.toThrow(/the complete of key/)
    await expect(store.release(request.id, 'o')).rejects.toThrow(/the release of key/)
    await expect(store.get(request.id)).rejects.toThrow(/the get of key/)
  })

  it('releases a claim that Redis answers after the deadline, since its caller never runs the work', async () => {
    const sent: string[][] = []
    let answerLate: (reply: unknown) => void = () => {}
    const slow: RedisStoreClient = {
      get: async () => null,
      eval: async () => null,
      evalSha: (_sha1, options) => {
        sent.push(options.arguments)
        if (sent.length > 1) return Promise.resolve(1)
        return new Promise((resolve) => {
          answerLate = resolve
        })
      },
    }
    const store = new RedisStore({ client: slow, timeoutMs: 20 })
    await expect(store.claim(request)).rejects.toThrow(/within 20 ms/)
    expect(sent).toHaveLength(1)
    answerLate([null, '1000']) // claimed, after all
    await vi.waitFor(() => expect(sent).toEqual([expect.any(Array), ['o']]))
  })

  it('leaves a late claim alone when it did not take the key', async () => {
    const sent: string[][] = []
    let answerLate: (reply: unknown) => void = () => {}
    const slow: RedisStoreClient = {
      get: async () => null,
      eval: async () => null,
      evalSha: (_sha1, options) => {
        sent.push(options.arguments)
        return new Promise((resolve) => {
          answerLate = resolve
        })
      },
    }
    const store = new RedisStore({ client: slow, timeoutMs: 20 })
    await expect(store.claim(request)).rejects.toThrow(/within 20 ms/)
    answerLate(['{"status":"IN_PROGRESS","owner":"other","expiresAtSeconds":60}', '1000'])
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(sent).toHaveLength(1)
  })

  it('passes any other failure on unchanged', async () => {
    const closed = new Error('The client is closed')
    const store = new RedisStore({ client: failingClient(closed) })
    await expect(store.claim(request)).rejects.toBe(closed)
    await expect(store.complete(request.id, 'o', '1', 60)).rejects.toBe(closed)
    await expect(store.release(request.id, 'o')).rejects.toBe(closed)
    await expect(store.get(request.id)).rejects.toBe(closed)
  })

  it('runs a script the server does not know with EVAL, and passes on what EVAL fails with', async () => {
    const noscript = new Error('NOSCRIPT No matching script. Please use EVAL.')
    const denied = new Error('NOPERM this user has no permissions to run the eval command')
    const sent: string[] = []
    const fresh: RedisStoreClient = {
      get: async () => null,
      evalSha: async () => {
        sent.push('evalSha')
        throw noscript
      },
      eval: async () => {
        sent.push('eval')
        throw denied
      },
    }
    await expect(new RedisStore({ client: fresh }).claim(request)).rejects.toBe(denied)
    expect(sent).toEqual(['evalSha', 'eval'])
    const old = new Error('ERR this Redis is older than 7.0')
    const error = await new RedisStore({ client: { ...fresh, eval: async () => Promise.reject(old) } })
      .claim(request)
      .catch((e: unknown) => e)
    expect((error as Error).message).toMatch(/needs Redis 7.0 or newer, or Valkey/)
    expect((error as Error).cause).toBe(old)
  })

  it('refuses a reply that no Redis gives, naming it', async () => {
    const odd = (reply: unknown): RedisStoreClient => ({
      get: async () => reply,
      eval: async () => reply,
      evalSha: async () => reply,
    })
    await expect(new RedisStore({ client: odd('OK') }).claim(request)).rejects.toThrow(
      'RedisStore: unexpected reply from Redis: OK',
    )
    await expect(new RedisStore({ client: odd(42) }).get(request.id)).rejects.toThrow(
      'RedisStore: unexpected reply from Redis: 42',
    )
    // A client with a type mapping answers with Buffers: read as UTF-8.
    const header = '{"status":"COMPLETED","owner":"o","expiresAtSeconds":60,"offsetMs":0}'
    await expect(
      new RedisStore({ client: odd(Buffer.from(`${header}\n"r"`)) }).get(request.id),
    ).resolves.toMatchObject({ status: 'COMPLETED', result: '"r"' })
  })
})
