import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import { afterAll, describe, expect, it } from 'vitest'
import { DynamoDBStore, makeIdempotent } from '../../src/index.js'
import { countingClient, createIdempotencyTable, scanTable } from '../helpers/dynamodb.js'
import { describeStoreConformance } from './store-conformance.js'

const { client, counter } = countingClient()
afterAll(() => client.destroy())

describeStoreConformance('DynamoDBStore on DynamoDB Local', async () => {
  const tableName = await createIdempotencyTable(client)
  const store = new DynamoDBStore({ client, tableName })
  const start = counter.requests
  return {
    store,
    requests: () => counter.requests - start,
    dump: async () => JSON.stringify(await scanTable(client, tableName)),
  }
})

describe('DynamoDBStore specifics', () => {
  it('works through a document client as well', async () => {
    const tableName = await createIdempotencyTable(client)
    const store = new DynamoDBStore({ client: DynamoDBDocumentClient.from(client), tableName })
    let runs = 0
    const work = makeIdempotent(async (n: number) => ++runs * n, { store, name: 'double' })
    expect(await work(2)).toBe(2)
    expect(await work(2)).toBe(2)
    expect(runs).toBe(1)
  })

  it('uses the attribute names it is given', async () => {
    const tableName = await createIdempotencyTable(client)
    const store = new DynamoDBStore({
      client,
      tableName,
      attributeNames: { expiration: 'ttl', status: 'state', result: 'response' },
    })
    const work = makeIdempotent(async (n: number) => n + 1, { store, name: 'increment' })
    await work(1)
    const [item] = await scanTable(client, tableName)
    expect(item).toMatchObject({
      ttl: { N: expect.any(String) },
      state: { S: 'COMPLETED' },
      response: { S: '2' },
    })
    expect(item).not.toHaveProperty('expiration')
  })

  it('keeps TTL-enabled tables working: records carry expiration in epoch seconds', async () => {
    const tableName = await createIdempotencyTable(client, { ttl: true })
    const store = new DynamoDBStore({ client, tableName })
    const work = makeIdempotent(async (n: number) => n, { store, name: 'identity', ttlSeconds: 3_600 })
    await work(1)
    const [item] = await scanTable(client, tableName)
    const expiration = Number(item?.expiration?.N)
    expect(expiration).toBeGreaterThanOrEqual(Math.floor(Date.now() / 1000) + 3_599)
    expect(expiration).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + 3_601)
  })
})
