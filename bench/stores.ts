/**
 * First-call and replay latency of the stores, through `makeIdempotent`: RedisStore on a local
 * redis-server, DynamoDBStore on DynamoDB Local, and MemoryStore as the floor (the protocol alone).
 * Starts both servers on 127.0.0.1 and stops them at the end. Variants run interleaved, in a new
 * random order each round, so drift (JIT, GC, a busy machine) spreads over all of them.
 *
 *   npm run bench:stores                 # 2000 measured rounds after 300 warm-up rounds
 *   npm run bench:stores -- --rounds 500
 */
import { randomUUID } from 'node:crypto'
import { cpus, loadavg, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { createClient } from 'redis'
import {
  createIdempotencyTable,
  localClientConfig,
  startDynamoDBLocal,
} from '../infra/local/dynamodb-local.js'
import { DynamoDBStore, type IdempotencyStore, MemoryStore, makeIdempotent } from '../src/index.js'
import { RedisStore } from '../src/redis.js'
import { startRedisServer } from '../test/helpers/redis-server.js'

const { values } = parseArgs({
  options: { rounds: { type: 'string', default: '2000' }, warmup: { type: 'string', default: '300' } },
})
const rounds = Number(values.rounds)
const warmupRounds = Number(values.warmup)
for (const [name, value] of [
  ['--rounds', rounds],
  ['--warmup', warmupRounds],
] as const) {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new Error(`${name} must be a whole number, got ${value}`)
}

interface Variant {
  name: string
  call: (input: { id: string }) => Promise<unknown>
  /** How often the work ran: once per first call, never for a replay, or the figures mean nothing. */
  runs: () => number
  first: number[]
  replay: number[]
}

const variant = (name: string, store: IdempotencyStore): Variant => {
  let runs = 0
  // A typical small response: what a payment handler returns.
  const work = async (input: { id: string }) => {
    runs++
    return { chargeId: `ch_${input.id}`, amount: 4_200, currency: 'EUR' }
  }
  return {
    name,
    call: makeIdempotent(work, { store, name: 'charge', key: (input) => input.id, logger: false }),
    runs: () => runs,
    first: [],
    replay: [],
  }
}

const timed = async (call: () => Promise<unknown>): Promise<number> => {
  const started = performance.now()
  await call()
  return performance.now() - started
}

const quantile = (samples: number[], q: number): number => {
  const sorted = [...samples].sort((a, b) => a - b)
  const position = (sorted.length - 1) * q
  const low = sorted[Math.floor(position)] ?? Number.NaN
  const high = sorted[Math.ceil(position)] ?? Number.NaN
  return low + (high - low) * (position - Math.floor(position))
}

const shuffle = <T>(items: T[]): T[] => {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[items[i], items[j]] = [items[j] as T, items[i] as T]
  }
  return items
}

const ms = (value: number) => `${value.toFixed(value < 1 ? 3 : 2)} ms`

const main = async () => {
  const loadBefore = loadavg()[0] ?? Number.NaN
  const [dynamo, redis] = await Promise.all([startDynamoDBLocal(), startRedisServer()])
  const dynamoClient = new DynamoDBClient(localClientConfig(dynamo.endpoint))
  const redisClient = createClient({ url: redis.url })
  try {
    await redisClient.connect()
    const tableName = await createIdempotencyTable(dynamoClient, `bench-${randomUUID()}`)
    const variants = [
      variant('RedisStore (redis-server)', new RedisStore({ client: redisClient })),
      variant('DynamoDBStore (DynamoDB Local)', new DynamoDBStore({ client: dynamoClient, tableName })),
      variant('MemoryStore (no I/O)', new MemoryStore()),
    ]

    // Each round shuffles every variant's first call (a new key) and replay (the key its first call
    // completed one round earlier), so neither kind always runs right after another server's work.
    const completed = new Map(variants.map((each) => [each, { id: randomUUID() }]))
    for (const each of variants) await each.call(completed.get(each) as { id: string })
    for (let round = 0; round < warmupRounds + rounds; round++) {
      const measured = round >= warmupRounds
      const steps = variants.flatMap((each) => [
        { each, kind: 'first' as const, input: { id: randomUUID() } },
        { each, kind: 'replay' as const, input: completed.get(each) as { id: string } },
      ])
      for (const { each, kind, input } of shuffle(steps)) {
        const elapsed = await timed(() => each.call(input))
        if (measured) each[kind].push(elapsed)
        if (kind === 'first') completed.set(each, input)
      }
    }

    for (const each of variants) {
      const expected = 1 + warmupRounds + rounds
      if (each.runs() !== expected)
        throw new Error(`${each.name}: the work ran ${each.runs()} times, not ${expected}`)
    }

    const redisVersion = (await redisClient.info('server')).match(/redis_version:(\S+)/)?.[1] ?? '?'
    console.log(
      `\n${new Date().toISOString().slice(0, 10)} · ${cpus()[0]?.model ?? 'unknown CPU'} · ${cpus().length} cores · ` +
        `${Math.round(totalmem() / 2 ** 30)} GiB · Node ${process.version} · Redis ${redisVersion} · ` +
        `${rounds} rounds (after ${warmupRounds} warm-up), both servers on 127.0.0.1 · ` +
        `load average ${loadBefore.toFixed(1)} before, ${(loadavg()[0] ?? Number.NaN).toFixed(1)} after\n`,
    )
    console.log('| store | first call, median | first call, p99 | replay, median | replay, p99 |')
    console.log('| --- | --- | --- | --- | --- |')
    for (const each of variants) {
      console.log(
        `| ${each.name} | ${ms(quantile(each.first, 0.5))} | ${ms(quantile(each.first, 0.99))} | ` +
          `${ms(quantile(each.replay, 0.5))} | ${ms(quantile(each.replay, 0.99))} |`,
      )
    }
  } finally {
    await redisClient.close().catch(() => {})
    dynamoClient.destroy()
    await Promise.all([dynamo.stop(), redis.stop()])
  }
}

await main()
