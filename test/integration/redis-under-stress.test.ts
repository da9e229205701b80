import { randomBytes, randomUUID } from 'node:crypto'
import { createClient } from 'redis'
import { afterEach, describe, expect, it } from 'vitest'
import {
  IdempotencyAbandonedError,
  IdempotencyInProgressError,
  type IdempotencyOutcome,
  IdempotencyStoreError,
  makeIdempotent,
} from '../../src/index.js'
import { RedisStore } from '../../src/redis.js'
import { delay, gate, manualClock, until } from '../helpers/lambda.js'
import { type RedisServer, startRedisServer } from '../helpers/redis-server.js'
import { claimRequest } from './store-conformance.js'

// Where Redis itself is under stress: a full memory, eviction, a restart, a hang, skewed callers.
// Each case runs on a redis-server of its own, started here and stopped after the test.

type Client = ReturnType<typeof createClient>
const cleanUps: (() => Promise<unknown>)[] = []
afterEach(async () => {
  for (const cleanUp of cleanUps.splice(0).reverse()) await cleanUp().catch(() => {})
})

/** A redis-server with `args`, a connected client, and both stopped after the test. */
const redisWith = async (args: string[] = [], clientOptions: Parameters<typeof createClient>[0] = {}) => {
  const node = await startRedisServer(args)
  cleanUps.push(() => node.stop())
  const client: Client = createClient({ url: node.url, ...clientOptions }).on('error', () => {})
  await client.connect()
  cleanUps.push(async () => client.destroy())
  return { node, client }
}

const usedMemory = async (client: Client) =>
  Number((await client.info('memory')).match(/used_memory:(\d+)/)?.[1])

/** Kills the server (SIGKILL: no shutdown save), starts it again, and waits for the client. */
const restart = async (node: RedisServer, client: Client) => {
  const reconnected = new Promise((resolve) => client.once('ready', resolve))
  await node.restart({ crash: true })
  await reconnected
}

// What the protocol passes for `abandoned: 'block'`: 9999-12-31T23:59:59Z.
const NEVER_SECONDS = 253_402_300_799

describe('RedisStore when memory is full (maxmemory-policy noeviction)', () => {
  it('completes every key claimed before memory filled up, so no retry runs its work again, and refuses new keys', async () => {
    const { client } = await redisWith(['--maxmemory-policy', 'noeviction'])
    const store = new RedisStore({ client })
    const clock = manualClock(Date.now())
    const keys = 20
    const resultBytes = 2_048
    let runs = 0
    const allStarted = gate()
    const memoryFull = gate()
    const work = makeIdempotent(
      async (i: number) => {
        if (++runs === keys) allStarted.open()
        await memoryFull.opened
        return { i, padding: randomBytes(resultBytes / 2).toString('hex') }
      },
      { store, name: 'memory-full', leaseMs: 1_000, now: clock.now, logger: false },
    )
    const calls = Array.from({ length: keys }, (_, i) => work(i))
    await allStarted.opened

    // Memory fills up while the work runs: the limit drops below what is already used.
    const before = await usedMemory(client)
    await client.configSet('maxmemory', String(before - 64 * 1024))
    await expect(client.set('probe', 'x')).rejects.toThrow(/OOM/)
    memoryFull.open()
    const firsts = await Promise.all(calls)
    const overshoot = (await usedMemory(client)) - before

    // A new key is refused while memory is full (503), and its work does not run.
    await expect(work(keys)).rejects.toBeInstanceOf(IdempotencyStoreError)
    expect(runs).toBe(keys)

    // Later, memory is available again and every lease has ended: a key left IN_PROGRESS would be
    // taken over and run again. Every key replays instead.
    await client.configSet('maxmemory', '0')
    clock.advance(2_000)
    for (let i = 0; i < keys; i++) expect(await work(i)).toEqual(firsts[i])
    expect(runs).toBe(keys)

    // How far the completions took memory past the limit: one completed record per claim in
    // flight (its result, its header and Redis's bookkeeping: 2 608 bytes for a 2 147-byte value),
    // and tens of kilobytes once (the script cache, the Lua heap until it collects; 52 KB measured).
    expect(overshoot).toBeGreaterThan(keys * resultBytes)
    expect(overshoot).toBeLessThan(keys * (resultBytes + 1_024) + 128 * 1024)
  })

  it('releases a claim after a failure even when memory is full, so the retry can run', async () => {
    const { client } = await redisWith(['--maxmemory-policy', 'noeviction'])
    const store = new RedisStore({ client })
    let runs = 0
    const work = makeIdempotent(
      async (_n: number) => {
        if (++runs === 1) {
          await client.configSet('maxmemory', '1')
          throw new Error('declined')
        }
        return 'done'
      },
      { store, name: 'memory-full-release', logger: false },
    )
    await expect(work(1)).rejects.toThrow('declined')
    expect(await client.dbSize()).toBe(0)
    await client.configSet('maxmemory', '0')
    expect(await work(1)).toBe('done')
    expect(runs).toBe(2)
  })
})

describe('RedisStore under each eviction policy', () => {
  // What survives when Redis must evict: blocking claims have no native expiry, so the volatile-*
  // policies never select them; allkeys-* policies may evict anything. The README's table.
  const survivors: Record<string, string[]> = {
    noeviction: ['blocked', 'completed', 'in-progress'],
    'allkeys-lru': [],
    'allkeys-lfu': [],
    'allkeys-random': [],
    'volatile-lru': ['blocked'],
    'volatile-lfu': ['blocked'],
    'volatile-random': ['blocked'],
    'volatile-ttl': ['blocked'],
  }

  it('evicts what the README says each policy evicts, and never a blocking claim under a volatile-* policy', async () => {
    const { client } = await redisWith()
    const store = new RedisStore({ client, keyPrefix: '' })
    for (const [policy, expected] of Object.entries(survivors)) {
      await client.flushAll()
      await client.configSet({ maxmemory: '0', 'maxmemory-policy': policy })
      const nowMs = Date.now()
      await store.claim(claimRequest('in-progress', 'a', nowMs))
      await store.claim(
        claimRequest('blocked', 'b', nowMs, { keepAbandoned: true, expiresAtSeconds: NEVER_SECONDS }),
      )
      await store.claim(claimRequest('completed', 'c', nowMs))
      expect(await store.complete('completed', 'c', '"r"', Math.ceil(nowMs / 1000) + 60)).toBe(true)

      // Nothing fits any more: Redis evicts before every command, as much as its policy allows.
      await client.configSet('maxmemory', '1')
      for (let i = 0; i < 50; i++) {
        await client.set('filler', 'x').catch(() => {})
        if (i >= 4 && (await client.dbSize()) <= expected.length) break
      }
      expect((await client.keys('*')).sort(), policy).toEqual(expected)
    }
  })

  it("keeps a blocked withdrawal blocked through memory pressure under volatile-lru, the managed services' default", async () => {
    const { client } = await redisWith(['--maxmemory-policy', 'volatile-lru'])
    const store = new RedisStore({ client })
    const clock = manualClock(Date.now())
    let runs = 0
    const withdraw = makeIdempotent(
      async (input: { crash?: boolean }) => {
        runs++
        if (input.crash) await new Promise(() => {}) // the invocation dies mid-work
        return 'withdrawn'
      },
      {
        store,
        name: 'withdraw',
        key: () => 'w-1',
        fingerprint: false,
        abandoned: 'block',
        leaseMs: 1_000,
        now: clock.now,
        logger: false,
      },
    )
    void withdraw({ crash: true })
    await until(async () => (await client.dbSize()) === 1)

    // Other data with an expiry fills the memory; Redis evicts every key it is allowed to.
    await client.configSet('maxmemory', String((await usedMemory(client)) + 256 * 1024))
    for (let i = 0; i < 1_000; i++) {
      const written = await client
        .set(`cache:${i}`, 'x'.repeat(10_000), { expiration: { type: 'EX', value: 3_600 } })
        .catch((error: Error) => error)
      if (written instanceof Error) break
    }
    expect(Number((await client.info('stats')).match(/evicted_keys:(\d+)/)?.[1])).toBeGreaterThan(0)
    clock.advance(2_000)
    await expect(withdraw({})).rejects.toBeInstanceOf(IdempotencyAbandonedError)
    expect(runs).toBe(1)
  })
})

describe('RedisStore across a restart', () => {
  it('writes the completed record again when Redis lost the claim while the work ran, so the retry replays it', async () => {
    const { node, client } = await redisWith()
    const store = new RedisStore({ client, recreateLostRecords: true })
    const outcomes: IdempotencyOutcome[] = []
    let runs = 0
    const work = makeIdempotent(
      async (n: number) => {
        if (++runs === 1) {
          await restart(node, client) // without persistence: every record is gone
        }
        return n * 10
      },
      { store, name: 'restart', logger: false, onEvent: (event) => outcomes.push(event.outcome) },
    )
    expect(await work(1)).toBe(10)
    expect(await work(1)).toBe(10)
    expect(runs).toBe(1)
    expect(outcomes).toEqual(['claimed', 'completed', 'replayed'])
  })

  it('never writes over a record that another caller made after the restart', async () => {
    const { node, client } = await redisWith()
    const store = new RedisStore({ client, recreateLostRecords: true })
    const nowMs = Date.now()
    await store.claim(claimRequest('k', 'before-restart', nowMs))
    await restart(node, client)
    expect(await store.claim(claimRequest('k', 'after-restart', nowMs))).toEqual({ claimed: true })

    expect(await store.complete('k', 'before-restart', '"late"', Math.ceil(nowMs / 1000) + 60)).toBe(false)
    expect(await store.get('k')).toMatchObject({ owner: 'after-restart', status: 'IN_PROGRESS' })
    // A completion whose claim this store never made (another instance's) writes nothing either.
    expect(await new RedisStore({ client }).complete('j', 'elsewhere', '"r"', nowMs / 1000 + 60)).toBe(false)
    expect(await store.get('j')).toBeUndefined()
  })

  it('keeps across a crash what each persistence setting promises: nothing, the last snapshot, every write', async () => {
    const settings: [string, string[], string[]][] = [
      ['no persistence', [], []],
      ['RDB snapshots', ['--save', '3600 1'], ['snapshotted']],
      [
        'AOF, appendfsync always',
        ['--appendonly', 'yes', '--appendfsync', 'always'],
        ['snapshotted', 'written'],
      ],
    ]
    for (const [name, args, expected] of settings) {
      const { node, client } = await redisWith(args)
      const store = new RedisStore({ client, keyPrefix: '' })
      const nowMs = Date.now()
      await store.claim(claimRequest('snapshotted', 'a', nowMs))
      if (name === 'RDB snapshots') await client.bgSave() // the AOF needs none
      await until(async () => !(await client.info('persistence')).includes('rdb_bgsave_in_progress:1'))
      await store.claim(claimRequest('written', 'a', nowMs))
      await restart(node, client)
      expect((await client.keys('*')).sort(), name).toEqual(expected)
    }
  })
})

describe('RedisStore when Redis hangs', () => {
  it('fails a call to a paused server with a 503 within timeoutMs, runs nothing, and releases the claim that lands when Redis wakes up', async () => {
    // The client settings the README showed before: they do not bound a command already sent.
    const { node, client } = await redisWith([], {
      disableOfflineQueue: true,
      commandOptions: { timeout: 1_000 },
      socket: { connectTimeout: 1_000 },
    })
    const keyPrefix = `hang:${randomUUID()}:`
    const store = new RedisStore({ client, keyPrefix, timeoutMs: 300 })
    let runs = 0
    const work = makeIdempotent(async (n: number) => ++runs + n, { store, name: 'hang', logger: false })
    expect(await work(1)).toBe(2)

    // Watch the key space, to see the late claim land and go.
    await client.configSet('notify-keyspace-events', 'Kg$')
    const events: string[] = []
    const watcher = client.duplicate().on('error', () => {})
    await watcher.connect()
    cleanUps.push(async () => watcher.destroy())
    await watcher.pSubscribe(`__keyspace@0__:${keyPrefix}*`, (event) => events.push(event))
    await client.set(`${keyPrefix}probe`, 'x')
    await until(() => events.length === 1)
    events.length = 0

    node.pause()
    const hung = work(2).catch((error: unknown) => error)
    const stillWaiting = delay(5_000).then(() => 'still waiting after 5 s')
    const failure = await Promise.race([hung, stillWaiting])
    node.resume()
    expect(failure).toBeInstanceOf(IdempotencyStoreError)
    expect((failure as Error).cause).toMatchObject({ message: expect.stringMatching(/within 300 ms/) })
    expect(runs).toBe(1)

    // Redis wakes up and runs the claim it received; the store releases it at once, so the retry
    // runs now rather than after a lease nobody uses.
    await until(() => events.includes('del'))
    expect(events).toEqual(['set', 'expire', 'del']) // SET with PXAT notifies both
    expect(await work(2)).toBe(4)
    expect(runs).toBe(2)
  })
})

describe("RedisStore with clock: 'server'", () => {
  const SKEW_MS = 10 * 60_000 // ten minutes: far beyond the lease and the retention window

  it('neither takes over a live claim nor runs a completed key again for a caller whose clock runs minutes ahead', async () => {
    const { client } = await redisWith()
    const store = new RedisStore({ client, clock: 'server' })
    const running = gate()
    const finish = gate()
    let runs = 0
    const options = { store, name: 'skew', leaseMs: 1_000, ttlSeconds: 60, logger: false } as const
    const onTime = makeIdempotent(async (n: number) => {
      runs++
      running.open()
      await finish.opened
      return n
    }, options)
    const ahead = makeIdempotent(async (n: number) => ++runs && n, {
      ...options,
      now: () => Date.now() + SKEW_MS,
    })
    const blockingAhead = makeIdempotent(async (n: number) => ++runs && n, {
      ...options,
      abandoned: 'block',
      now: () => Date.now() + SKEW_MS,
    })

    const first = onTime(7)
    await running.opened
    await expect(ahead(7)).rejects.toBeInstanceOf(IdempotencyInProgressError)
    await expect(blockingAhead(7)).rejects.toBeInstanceOf(IdempotencyInProgressError)
    finish.open()
    expect(await first).toBe(7)
    expect(await ahead(7)).toBe(7)
    expect(runs).toBe(1)
  })

  it("frees an abandoned claim once its lease has passed on Redis's clock, whatever the callers' clocks say", async () => {
    const { client } = await redisWith()
    const store = new RedisStore({ client, clock: 'server' })
    const nowMs = Date.now()
    await store.claim(claimRequest('k', 'dead', nowMs, { leaseExpiresAtMs: nowMs + 200 }))
    const behind = () => Date.now() - SKEW_MS
    expect((await store.claim(claimRequest('k', 'behind', behind()))).claimed).toBe(false)
    await delay(300)
    expect(await store.claim(claimRequest('k', 'behind', behind()))).toEqual({ claimed: true })
  })

  it('lets exactly one of many concurrent claims with scattered clocks win', async () => {
    const { client } = await redisWith()
    const store = new RedisStore({ client, clock: 'server' })
    const nowMs = Date.now()
    const outcomes = await Promise.all(
      Array.from({ length: 25 }, (_, i) =>
        store.claim(claimRequest('race', `owner-${i}`, nowMs + (i - 12) * SKEW_MS)),
      ),
    )
    expect(outcomes.filter((outcome) => outcome.claimed)).toHaveLength(1)
  })
})
