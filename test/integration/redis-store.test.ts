import { randomUUID } from 'node:crypto'
import middy from '@middy/core'
import { createClient, createClientPool, createCluster, RESP_TYPES } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IdempotencyStoreError, idempotent, makeIdempotent } from '../../src/index.js'
import { RedisStore, type RedisStoreClient } from '../../src/redis.js'
import { delay, lambdaContext, manualClock } from '../helpers/lambda.js'
import { type RedisServer, startRedisServer } from '../helpers/redis-server.js'
import { claimRequest, describeStoreConformance } from './store-conformance.js'

let server: RedisServer
let client: ReturnType<typeof createClient>

beforeAll(async () => {
  server = await startRedisServer()
  client = createClient({ url: server.url })
  await client.connect()
  await warmScripts()
})

afterAll(async () => {
  await client?.close()
  await server?.stop()
})

/** Every command the store sends, by name, on its way to the real client. */
const counting = (target: RedisStoreClient) => {
  const calls: string[] = []
  const count =
    <T extends unknown[], R>(name: string, send: (...args: T) => R) =>
    (...args: T): R => {
      calls.push(name)
      return send(...args)
    }
  const counted: RedisStoreClient = {
    get: count('get', (...args) => target.get(...args)),
    eval: count('eval', (...args) => target.eval(...args)),
    evalSha: count('evalSha', (...args) => target.evalSha(...args)),
  }
  return { counted, calls }
}

const uniquePrefix = () => `test:${randomUUID()}:`

/** Every key under a prefix with its raw value, sorted. */
const dumpKeys = async (prefix: string) => {
  const entries: [string, string | null][] = []
  for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1_000 })) {
    for (const key of keys) entries.push([key, await client.get(key)])
  }
  return entries.sort(([a], [b]) => a.localeCompare(b))
}

// Runs each script once, so the server's script cache is warm as it is in steady state and the
// suite's request counts hold; the NOSCRIPT fallback has its own test below.
const warmScripts = async () => {
  const keyPrefix = uniquePrefix()
  const store = new RedisStore({ client, keyPrefix })
  const nowMs = Date.now()
  await store.claim(claimRequest('w', 'a', nowMs, { leaseExpiresAtMs: nowMs }))
  await store.claim(claimRequest('w', 'b', nowMs)) // a's lease has ended: the take-over script runs
  await store.complete('w', 'b', '"r"', Math.floor(nowMs / 1000) + 60)
  await store.release('w', 'b')
  await client.del(`${keyPrefix}w`)
}

describeStoreConformance('RedisStore on redis-server', async () => {
  const keyPrefix = uniquePrefix()
  const { counted, calls } = counting(client)
  const store = new RedisStore({ client: counted, keyPrefix })
  return {
    store,
    requests: () => calls.length,
    dump: async () => JSON.stringify(await dumpKeys(keyPrefix)),
  }
})

describe('RedisStore specifics', () => {
  it("keeps every record under the key prefix, 'idempotency:' unless told otherwise", async () => {
    const name = `prefix-${randomUUID()}`
    await makeIdempotent(async (n: number) => n, { store: new RedisStore({ client }), name })(1)
    const keyPrefix = uniquePrefix()
    await makeIdempotent(async (n: number) => n, { store: new RedisStore({ client, keyPrefix }), name })(1)

    const [[prefixedKey, value] = []] = await dumpKeys(keyPrefix)
    expect(prefixedKey).toMatch(new RegExp(`^${keyPrefix}[0-9a-f]{64}$`))
    expect(value).toMatch(/^\{"status":"COMPLETED",.*\}\n1$/)
    const id = prefixedKey?.slice(keyPrefix.length)
    expect(await client.get(`idempotency:${id}`)).toMatch(/^\{"status":"COMPLETED",.*\}\n1$/)
    await client.del(`idempotency:${id}`)
  })

  it("works as the README shows: a connected client, a middy handler keyed by the payment's id", async () => {
    type Payment = { paymentId: string; amount: number }
    const charges: Payment[] = []
    const charge = async (payment: Payment) => {
      charges.push(payment)
      return { chargeId: `ch_${charges.length}`, amount: payment.amount }
    }

    const store = new RedisStore({ client, keyPrefix: uniquePrefix() })
    const handler = middy(charge).use(idempotent({ store, key: (event: Payment) => event.paymentId }))

    const first = await handler({ paymentId: 'pay_123', amount: 100 }, lambdaContext())
    expect(await handler({ paymentId: 'pay_123', amount: 100 }, lambdaContext())).toEqual(first)
    expect(charges).toHaveLength(1)
  })

  for (const [when, startMs] of [
    ['years behind', Date.UTC(2020, 0, 1)],
    ['years ahead of', Date.UTC(2040, 0, 1)],
  ] as const) {
    it(`sets a native expiry of the retention window plus the margin, measured on Redis's clock, with a caller clock ${when} it`, async () => {
      const keyPrefix = uniquePrefix()
      const store = new RedisStore({ client, keyPrefix, expiryMarginSeconds: 60 })
      const clock = manualClock(startMs)
      let claimedExpiresAt = 0
      let claimed = { before: 0, after: 0 }
      const before = Date.now()
      const work = makeIdempotent(
        async (_n: number) => {
          claimed = { before, after: Date.now() }
          const [[key] = []] = await dumpKeys(keyPrefix)
          claimedExpiresAt = await client.pExpireTime(key ?? '')
          clock.advance(10_000) // the work takes 10 s on the caller's clock
          return 'done'
        },
        { store, name: 'native-expiry', ttlSeconds: 600, leaseMs: 1_000, now: clock.now },
      )
      await work(1)

      // Claimed: 600 s of retention + 60 s of margin from the moment Redis got the claim.
      expect(claimedExpiresAt).toBeGreaterThanOrEqual(claimed.before + 660_000)
      expect(claimedExpiresAt).toBeLessThanOrEqual(claimed.after + 660_000)
      // Completed 10 s later on the caller's clock: the native expiry moved by exactly as much.
      const [[key, value] = []] = await dumpKeys(keyPrefix)
      expect(value).toContain('"status":"COMPLETED"')
      const completedExpiresAt = await client.pExpireTime(key ?? '')
      expect(Math.abs(completedExpiresAt - claimedExpiresAt - 10_000)).toBeLessThanOrEqual(1)
    })
  }

  it('lets Redis delete a record natively once it stops counting and its margin has passed', async () => {
    const keyPrefix = uniquePrefix()
    const store = new RedisStore({ client, keyPrefix, expiryMarginSeconds: 0 })
    let runs = 0
    const work = makeIdempotent(async (n: number) => ++runs + n, {
      store,
      name: 'short-lived',
      ttlSeconds: 1,
    })
    expect(await work(10)).toBe(11)
    expect(await work(10)).toBe(11)
    expect(await dumpKeys(keyPrefix)).toHaveLength(1)
    // Claimed with a 60 s lease, completed with 1 s of retention: the native expiry shrank with it.
    const deadline = Date.now() + 10_000
    while ((await dumpKeys(keyPrefix)).length > 0 && Date.now() < deadline) await delay(100)
    expect(await dumpKeys(keyPrefix)).toEqual([])
    expect(await work(10)).toBe(12)
  })

  it('lets exactly one of many concurrent retries take over an abandoned claim, and one an expired record', async () => {
    const keyPrefix = uniquePrefix()
    const store = new RedisStore({ client, keyPrefix })
    const nowMs = Date.now()
    await store.claim(claimRequest('abandoned', 'dead', nowMs))
    await store.claim(claimRequest('expired', 'done', nowMs))
    await store.complete('expired', 'done', '"old"', Math.floor(nowMs / 1000) + 5)

    for (const [id, laterMs] of [
      ['abandoned', nowMs + 1_000],
      ['expired', nowMs + 6_000],
    ] as const) {
      const outcomes = await Promise.all(
        Array.from({ length: 25 }, (_, i) => store.claim(claimRequest(id, `retry-${i}`, laterMs))),
      )
      const winners = outcomes.flatMap((outcome, i) => (outcome.claimed ? [`retry-${i}`] : []))
      expect(winners, id).toHaveLength(1)
      for (const outcome of outcomes) {
        if (!outcome.claimed)
          expect(outcome.existing, id).toMatchObject({ owner: winners[0], status: 'IN_PROGRESS' })
      }
      expect(await store.get(id)).toMatchObject({
        owner: winners[0],
        status: 'IN_PROGRESS',
        result: undefined,
      })
    }
  })

  it("fences a late owner inside the scripts: its completion and release leave the successor's record byte for byte", async () => {
    const keyPrefix = uniquePrefix()
    const store = new RedisStore({ client, keyPrefix })
    const nowMs = Date.now()
    await store.claim(claimRequest('fenced', 'late', nowMs))
    expect(await store.claim(claimRequest('fenced', 'successor', nowMs + 1_000))).toEqual({ claimed: true })
    const key = `${keyPrefix}fenced`
    const [raw, expiresAt] = [await client.get(key), await client.pExpireTime(key)]

    expect(await store.complete('fenced', 'late', '"late result"', Math.floor(nowMs / 1000) + 600)).toBe(
      false,
    )
    expect(await store.release('fenced', 'late')).toBe(false)
    expect(await client.get(key)).toBe(raw)
    expect(await client.pExpireTime(key)).toBe(expiresAt)

    expect(await store.complete('fenced', 'successor', '"result"', Math.floor(nowMs / 1000) + 60)).toBe(true)
    expect(await store.release('fenced', 'successor')).toBe(false)
    expect(await store.get('fenced')).toMatchObject({
      owner: 'successor',
      status: 'COMPLETED',
      result: '"result"',
    })
  })

  it('runs its scripts by hash, and sends them in full when the server has forgotten them (restart, SCRIPT FLUSH)', async () => {
    const { counted, calls } = counting(client)
    const store = new RedisStore({ client: counted, keyPrefix: uniquePrefix() })
    const double = makeIdempotent(async (n: number) => n * 2, { store, name: 'double' })
    try {
      await client.scriptFlush()
      expect(await double(1)).toBe(2)
      expect(calls).toEqual(['evalSha', 'eval', 'evalSha', 'eval']) // claim, then complete
      calls.length = 0
      expect(await double(2)).toBe(4)
      expect(await double(2)).toBe(4)
      expect(calls).toEqual(['evalSha', 'evalSha', 'evalSha'])
    } finally {
      await warmScripts()
    }
  })

  it('works for an ACL user allowed only what the README lists: GET, EVAL, EVALSHA, and SET, DEL, TIME for the scripts', async () => {
    const user = `store-${randomUUID()}`
    const allowed = ['+get', '+eval', '+evalsha', '+set', '+del', '+time']
    await client.aclSetUser(user, ['on', '>secret', '~idempotency:*', ...allowed])
    const limited = await createClient({ url: server.url, username: user, password: 'secret' }).connect()
    try {
      const store = new RedisStore({ client: limited })
      let runs = 0
      const work = makeIdempotent(
        async (n: number) => {
          if (n < 0) throw new Error('declined')
          return ++runs + n
        },
        { store, name: `acl-${user}` },
      )
      expect(await work(1)).toBe(2)
      expect(await work(1)).toBe(2)
      await expect(work(-1)).rejects.toThrow('declined')
      await expect(work(-1)).rejects.toThrow('declined')
      expect(runs).toBe(1)
      await expect(limited.set('elsewhere', 'x')).rejects.toThrow(/NOPERM/)
    } finally {
      await limited.close()
      await client.aclDelUser(user)
    }
  })

  it('refuses a value that is not an idempotency record, naming its key', async () => {
    const keyPrefix = uniquePrefix()
    const store = new RedisStore({ client, keyPrefix })
    await client.set(`${keyPrefix}foreign`, 'cached page')
    const notARecord = new RegExp(`key "${keyPrefix}foreign" holds a value that is not an idempotency record`)
    await expect(store.get('foreign')).rejects.toThrow(notARecord)
    await expect(store.claim(claimRequest('foreign', 'a', Date.now()))).rejects.toThrow(notARecord)
    expect(await client.get(`${keyPrefix}foreign`)).toBe('cached page')

    // Through the protocol, the same failure is a 503 and the work does not run.
    let runs = 0
    const work = makeIdempotent(
      async (_n: number) => {
        runs++
      },
      { store, name: 'foreign', key: () => 'k' },
    )
    await work(1)
    const [[key] = []] = await dumpKeys(keyPrefix).then((entries) =>
      entries.filter(([k]) => !k.endsWith('foreign')),
    )
    await client.set(key ?? '', 'not json either')
    await expect(work(1)).rejects.toBeInstanceOf(IdempotencyStoreError)
    expect(runs).toBe(1)
  })

  it('works with a RESP3 client, a client that maps strings to Buffers, and a client pool', async () => {
    const resp3 = await createClient({ url: server.url, RESP: 3 }).connect()
    const pool = createClientPool({ url: server.url })
    await pool.connect()
    try {
      const clients: [string, RedisStoreClient][] = [
        ['RESP3', resp3],
        ['Buffer replies', client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer })],
        ['pool', pool],
      ]
      for (const [name, each] of clients) {
        const store = new RedisStore({ client: each, keyPrefix: uniquePrefix() })
        let runs = 0
        const work = makeIdempotent(async (input: { text: string }) => ({ runs: ++runs, text: input.text }), {
          store,
          name: 'echo',
        })
        const first = await work({ text: 'é ✓ \n "quoted"' })
        expect(await work({ text: 'é ✓ \n "quoted"' }), name).toEqual(first)
        expect(first, name).toEqual({ runs: 1, text: 'é ✓ \n "quoted"' })
      }
    } finally {
      await resp3.close()
      await pool.close()
    }
  })

  describe('when Redis runs out of memory', () => {
    /** A server of its own, with the given maxmemory-policy. */
    const serverWith = async (policy: 'noeviction' | 'volatile-lru') => {
      const node = await startRedisServer(['--maxmemory-policy', policy])
      const admin = await createClient({ url: node.url }).connect()
      const stop = async () => {
        await admin.close()
        await node.stop()
      }
      return { admin, stop }
    }

    it('with maxmemory-policy noeviction, refuses new keys with a 503 and never runs their work, and still replays', async () => {
      const { admin, stop } = await serverWith('noeviction')
      try {
        const store = new RedisStore({ client: admin })
        let runs = 0
        const work = makeIdempotent(async (n: number) => ++runs + n, { store, name: 'full' })
        expect(await work(1)).toBe(2)
        await admin.configSet('maxmemory', '1') // full: every write is refused with OOM
        await expect(admin.set('probe', 'x')).rejects.toThrow(/OOM/)

        const refused = await work(2).catch((error: unknown) => error)
        expect(refused).toBeInstanceOf(IdempotencyStoreError)
        expect((refused as Error).message).toMatch(/OOM/)
        expect(await work(1)).toBe(2) // read back: the record written before memory ran out
        expect(runs).toBe(1)
      } finally {
        await stop()
      }
    })

    it('with an evicting policy (volatile-lru), loses records under pressure and runs their work again', async () => {
      const { admin, stop } = await serverWith('volatile-lru')
      try {
        const store = new RedisStore({ client: admin })
        let runs = 0
        const work = makeIdempotent(async (n: number) => ++runs + n, { store, name: 'evicted' })
        expect(await work(1)).toBe(2)
        const used = Number((await admin.info('memory')).match(/used_memory:(\d+)/)?.[1])
        await admin.configSet('maxmemory', String(used + 1024 * 1024))
        // Other data without expiry fills the memory: records, which all expire, are evicted first.
        // Once nothing is left to evict, Redis refuses the write that needed the room (OOM).
        for (let i = 0; (await admin.keys('idempotency:*')).length > 0; i++) {
          const written = await admin.set(`cache:${i}`, 'x'.repeat(10_000)).catch((error: Error) => error)
          if (written instanceof Error) break
        }
        expect(await admin.keys('idempotency:*')).toEqual([])
        await admin.configSet('maxmemory', '0')
        expect(await work(1)).toBe(3)
        expect(runs).toBe(2)
      } finally {
        await stop()
      }
    })
  })

  it('answers 503, and runs nothing, when Redis has gone away (client settings from the README)', async () => {
    const node = await startRedisServer()
    const errors: unknown[] = []
    const lost = createClient({
      url: node.url,
      disableOfflineQueue: true, // fail while reconnecting instead of queueing until the Lambda times out
      commandOptions: { timeout: 1_000 },
      socket: { connectTimeout: 1_000 },
    }).on('error', (error) => errors.push(error)) // without a listener, a lost connection crashes the process
    await lost.connect()
    try {
      let runs = 0
      const work = makeIdempotent(async (n: number) => ++runs + n, {
        store: new RedisStore({ client: lost }),
        name: 'lost',
      })
      expect(await work(1)).toBe(2)
      await node.stop()
      await expect(work(2)).rejects.toBeInstanceOf(IdempotencyStoreError)
      expect(runs).toBe(1)
      expect(errors.length).toBeGreaterThan(0)
    } finally {
      lost.destroy()
      await node.stop()
    }
  })

  it('works through a Redis Cluster client', async () => {
    const node = await startRedisServer([
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-announce-ip',
      '127.0.0.1',
    ])
    const admin = await createClient({ url: node.url }).connect()
    const cluster = createCluster({ rootNodes: [{ url: node.url }] })
    try {
      await admin.sendCommand(['CLUSTER', 'ADDSLOTSRANGE', '0', '16383'])
      const deadline = Date.now() + 10_000
      while (!(await admin.clusterInfo()).includes('cluster_state:ok') && Date.now() < deadline)
        await delay(50)
      await cluster.connect()
      const store = new RedisStore({ client: cluster })
      let runs = 0
      const work = makeIdempotent(async (n: number) => ++runs * n, { store, name: 'clustered' })
      const failing = makeIdempotent(
        async (_n: number) => {
          throw new Error('declined')
        },
        { store, name: 'clustered-failure' },
      )
      expect([await work(3), await work(4)]).toEqual([3, 8])
      expect([await work(3), await work(4)]).toEqual([3, 8])
      expect(runs).toBe(2)
      await expect(failing(1)).rejects.toThrow('declined')
      await expect(failing(1)).rejects.toThrow('declined')
      expect(await admin.dbSize()).toBe(2)
    } finally {
      await cluster.close().catch(() => {})
      await admin.close()
      await node.stop()
    }
  })
})
