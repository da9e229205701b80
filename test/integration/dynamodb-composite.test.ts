import { randomUUID } from 'node:crypto'
import {
  type AttributeValue,
  CreateTableCommand,
  type DynamoDBClient,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb'
import { afterAll, describe, expect, it } from 'vitest'
import { DynamoDBStore, IdempotencyConfigError, makeIdempotent, recordId } from '../../src/index.js'
import { countingClient, scanTable } from '../helpers/dynamodb.js'
import { claimRequest, describeStoreConformance } from './store-conformance.js'

const { client, counter } = countingClient()
afterAll(() => client.destroy())

/** A single-table-design table: partition key `pk`, sort key `sk`, both strings. */
const createCompositeTable = async (dynamo: DynamoDBClient): Promise<string> => {
  const tableName = `app-${randomUUID()}`
  await dynamo.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'sk', AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  )
  return tableName
}

// The application's own items, some in the partitions the store uses and some with the attribute
// names it uses (status, owner, expiration), as a single-table design would have them.
const unrelatedItems: Record<string, AttributeValue>[] = [
  { pk: { S: 'CUSTOMER#42' }, sk: { S: 'PROFILE' }, name: { S: 'Ada' } },
  { pk: { S: 'CUSTOMER#42' }, sk: { S: 'ORDER#7' }, status: { S: 'IN_PROGRESS' }, expiration: { N: '1' } },
  ...'0123456789abcdef'.split('').map((digit) => ({
    pk: { S: `idempotency#${digit}` },
    sk: { S: 'META' },
    owner: { S: 'someone else' },
    status: { S: 'IN_PROGRESS' },
    leaseExpiresAt: { N: '0' },
    expiration: { N: '0' },
  })),
]

const isUnrelated = (item: Record<string, AttributeValue>) =>
  unrelatedItems.some((other) => other.pk?.S === item.pk?.S && other.sk?.S === item.sk?.S)

const tables: string[] = []

const compositeFixture = async () => {
  const tableName = await createCompositeTable(client)
  tables.push(tableName)
  for (const item of unrelatedItems)
    await client.send(new PutItemCommand({ TableName: tableName, Item: item }))
  const store = new DynamoDBStore({ client, tableName, attributeNames: { id: 'pk', sortKey: 'sk' } })
  const start = counter.requests
  return {
    store,
    requests: () => counter.requests - start,
    dump: async () =>
      JSON.stringify((await scanTable(client, tableName)).filter((item) => !isUnrelated(item))),
  }
}

describeStoreConformance('DynamoDBStore on a pk + sk table shared with other items', compositeFixture)

describe('DynamoDBStore on a table with a sort key', () => {
  afterAll(async () => {
    // Every table the conformance suite and these tests used still holds the application's items
    // exactly as they were written: nothing was overwritten, changed or deleted.
    expect(tables.length).toBeGreaterThan(0)
    for (const tableName of tables) {
      const items = (await scanTable(client, tableName)).filter(isUnrelated)
      const sortItems = (list: Record<string, AttributeValue>[]) =>
        [...list].sort((a, b) => `${a.pk?.S}/${a.sk?.S}`.localeCompare(`${b.pk?.S}/${b.sk?.S}`))
      expect(sortItems(items)).toEqual(sortItems(unrelatedItems))
    }
  })

  it('puts the record id in the sort key and a hash-derived shard in the partition key by default', async () => {
    const { store, dump } = await compositeFixture()
    const work = makeIdempotent(async (n: number) => n * 2, { store, name: 'double', key: String })
    await work(21)
    const [item] = JSON.parse(await dump()) as Record<string, AttributeValue>[]
    const id = recordId({ functionName: '', name: 'double', scope: '' }, '21')
    expect(item).toMatchObject({ sk: { S: id }, pk: { S: expect.stringMatching(/^idempotency#[0-9a-f]$/) } })
    expect(await store.get(id)).toMatchObject({ id, status: 'COMPLETED' })
  })

  it('spreads records over the 16 default partition values', async () => {
    const { store, dump } = await compositeFixture()
    const work = makeIdempotent(async (n: number) => n, { store, name: 'spread', key: String })
    await Promise.all(Array.from({ length: 200 }, (_, n) => work(n)))
    const partitions = new Set(
      (JSON.parse(await dump()) as Record<string, AttributeValue>[]).map((item) => item.pk?.S),
    )
    expect(partitions.size).toBe(16)
  })

  it('uses a static partitionValue or one computed from the record id', async () => {
    const tableName = await createCompositeTable(client)
    tables.push(tableName)
    for (const item of unrelatedItems)
      await client.send(new PutItemCommand({ TableName: tableName, Item: item }))
    const fixed = new DynamoDBStore({
      client,
      tableName,
      attributeNames: { id: 'pk', sortKey: 'sk' },
      partitionValue: 'CUSTOMER#42',
    })
    const computed = new DynamoDBStore({
      client,
      tableName,
      attributeNames: { id: 'pk', sortKey: 'sk' },
      partitionValue: (id) => `IDEMPOTENCY#${id.slice(-1)}`,
    })
    const now = Date.now()
    expect(await fixed.claim(claimRequest('r1', 'o1', now))).toEqual({ claimed: true })
    expect(await computed.claim(claimRequest('r2', 'o2', now))).toEqual({ claimed: true })
    const ours = (await scanTable(client, tableName)).filter((item) => !isUnrelated(item))
    expect(ours.map((item) => [item.pk?.S, item.sk?.S]).sort()).toEqual([
      ['CUSTOMER#42', 'r1'],
      ['IDEMPOTENCY#2', 'r2'],
    ])
    // A record id equal to an application item's sort key, in that item's partition: the claim
    // is refused (the item is not expired idempotency data), the item stays as it was.
    const outcome = await fixed.claim(claimRequest('PROFILE', 'o3', now))
    expect(outcome.claimed).toBe(false)
  })

  it('refuses a partitionValue function that returns no string, naming the value', async () => {
    const tableName = await createCompositeTable(client)
    const store = new DynamoDBStore({
      client,
      tableName,
      attributeNames: { id: 'pk', sortKey: 'sk' },
      partitionValue: () => '' as string,
    })
    await expect(store.get('r1')).rejects.toThrow(/option "partitionValue" must be .* got ""/)
  })

  it('refuses options that cannot describe a table, naming the option', () => {
    const make = (options: Partial<ConstructorParameters<typeof DynamoDBStore>[0]>) => () =>
      new DynamoDBStore({ client, tableName: 't', ...options })
    expect(make({ partitionValue: 'p' })).toThrow(/option "partitionValue" must be left out unless/)
    expect(make({ attributeNames: { id: 'pk', sortKey: 'pk' } })).toThrow(
      /option "attributeNames.sortKey" must be a name that attributeNames.id does not use already, got "pk"/,
    )
    expect(make({ attributeNames: { sortKey: 'sk' }, partitionValue: 3 as unknown as string })).toThrow(
      IdempotencyConfigError,
    )
  })
})
