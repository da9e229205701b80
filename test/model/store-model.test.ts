import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { DynamoDBStore, type IdempotencyStore, MemoryStore } from '../../src/index.js'
import { RedisStore } from '../../src/redis.js'
import { countingClient, createIdempotencyTable } from '../helpers/dynamodb.js'
import { useRedisServer } from '../helpers/redis-server.js'
import { mutants, reentryMutants } from './mutants.js'
import { checkModel, modelTimeout, storeModelProperty } from './store-model.js'

// CI runs a bounded number of schedules per store; `npm run test:model:long` runs a long
// campaign, and `MODEL_SEED` (printed with every run) replays one.
const checkStore = (name: string, store: IdempotencyStore, runs: number, skew = true) =>
  checkModel(`store model, ${name}`, storeModelProperty(store, undefined, skew), runs)

const { client: dynamoClient } = countingClient()
const redis = useRedisServer()

afterAll(async () => {
  dynamoClient.destroy()
})

describe('the store contract under generated schedules', () => {
  it(
    'MemoryStore answers and holds what the model allows',
    async () => {
      await checkStore('MemoryStore', new MemoryStore(), 1_000)
    },
    modelTimeout(60_000),
  )

  it(
    'DynamoDBStore on DynamoDB Local answers and holds what the model allows',
    async () => {
      const tableName = await createIdempotencyTable(dynamoClient)
      await checkStore('DynamoDBStore', new DynamoDBStore({ client: dynamoClient, tableName }), 100)
    },
    modelTimeout(120_000),
  )

  it(
    'RedisStore on redis-server answers and holds what the model allows',
    async () => {
      // Without skewed callers: RedisStore's native expiry follows the claiming caller's clock, so
      // with its default clock: 'caller' callers must agree within a retention window (README,
      // RedisStore); a caller a day behind saw a completed record of a 1 s window vanish early.
      // clock: 'server' tolerates any skew (test/integration/redis-under-stress.test.ts).
      await checkStore(
        'RedisStore',
        new RedisStore({ client: redis.client, keyPrefix: 'model:' }),
        1_000,
        false,
      )
    },
    modelTimeout(120_000),
  )
})

describe('the model check catches broken stores', () => {
  for (const [bug, Mutant] of Object.entries({ ...mutants, ...reentryMutants })) {
    it(`fails on a store with ${bug}, with a short counterexample`, async () => {
      const details = await fc.check(storeModelProperty(new Mutant()), { numRuns: 2_000, seed: 42 })
      expect(details.failed).toBe(true)
      const [schedule] = details.counterexample ?? []
      const steps = String(schedule?.steps).split(/,(?=[a-z]+\()/)
      // The counterexample is shown when an assertion fails, not printed on every run.
      const counterexample = `${bug}: ${String(schedule?.steps)}\n  ${String(details.errorInstance)}`
      expect(details.errorInstance, counterexample).toBeInstanceOf(Error)
      expect(steps.length, counterexample).toBeLessThanOrEqual(6)
    }, 60_000)
  }
})
