import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { DynamoDBStore, type IdempotencyStore, MemoryStore } from '../../src/index.js'
import { RedisStore } from '../../src/redis.js'
import { countingClient, createIdempotencyTable } from '../helpers/dynamodb.js'
import { useRedisServer } from '../helpers/redis-server.js'
import { mutants } from './mutants.js'
import { protocolModelProperty } from './protocol-model.js'
import { checkModel, modelTimeout } from './store-model.js'

const checkProtocol = (name: string, store: IdempotencyStore, runs: number) =>
  checkModel(`protocol model, ${name}`, protocolModelProperty(store), runs)

const { client: dynamoClient } = countingClient()
const redis = useRedisServer()

afterAll(async () => {
  dynamoClient.destroy()
})

describe('makeIdempotent under generated interleavings, clock jumps, crashes and store faults', () => {
  it(
    'keeps its promises on MemoryStore',
    async () => {
      await checkProtocol('MemoryStore', new MemoryStore(), 300)
    },
    modelTimeout(120_000),
  )

  it(
    'keeps its promises on DynamoDBStore on DynamoDB Local',
    async () => {
      const tableName = await createIdempotencyTable(dynamoClient)
      await checkProtocol('DynamoDBStore', new DynamoDBStore({ client: dynamoClient, tableName }), 60)
    },
    modelTimeout(120_000),
  )

  it(
    'keeps its promises on RedisStore on redis-server',
    async () => {
      await checkProtocol('RedisStore', new RedisStore({ client: redis.client, keyPrefix: 'model:' }), 150)
    },
    modelTimeout(120_000),
  )

  for (const [bug, Mutant] of Object.entries(mutants)) {
    it(
      `fails on a store with ${bug}`,
      async () => {
        const details = await fc.check(protocolModelProperty(new Mutant()), { numRuns: 2_000, seed: 42 })
        expect(details.failed).toBe(true)
        // What broke, shown when the assertion fails rather than printed on every run.
        expect(
          details.errorInstance,
          `protocol model, ${bug}: ${String(details.errorInstance)}`,
        ).toBeInstanceOf(Error)
      },
      modelTimeout(120_000),
    )
  }
})
