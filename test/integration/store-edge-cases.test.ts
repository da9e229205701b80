import { PutItemCommand } from '@aws-sdk/client-dynamodb'
import { afterAll, describe, expect, it } from 'vitest'
import {
  currentClaim,
  DynamoDBStore,
  IdempotencyAbandonedError,
  type IdempotencyEvent,
  IdempotencyInProgressError,
  makeIdempotent,
  PowertoolsDynamoDBStore,
  recordId,
} from '../../src/index.js'
import { RedisStore } from '../../src/redis.js'
import { countingClient, createIdempotencyTable, scanTable } from '../helpers/dynamodb.js'
import { useRedisServer } from '../helpers/redis-server.js'

// Records and answers the protocol meets rarely (written by hand or by another version, a
// transaction another item cancels), on the real stores.

const { client } = countingClient()
const redis = useRedisServer()

afterAll(async () => {
  client.destroy()
})

const inAnHour = () => Math.floor(Date.now() / 1000) + 3_600
const idOf = (name: string, key: string) => recordId({ functionName: '', name, scope: '' }, key)

describe('DynamoDBStore on records written by hand', () => {
  it('replays a COMPLETED record that has no result as null, without running the work', async () => {
    const tableName = await createIdempotencyTable(client)
    await client.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          id: { S: idOf('bare', 'k-1') },
          status: { S: 'COMPLETED' },
          owner: { S: 'someone' },
          expiration: { N: String(inAnHour()) },
        },
      }),
    )
    let runs = 0
    const work = makeIdempotent(async (_: { id: string }) => ++runs, {
      store: new DynamoDBStore({ client, tableName }),
      name: 'bare',
      key: (input) => input.id,
      fingerprint: false,
      logger: false,
    })
    await expect(work({ id: 'k-1' })).resolves.toBeNull()
    expect(runs).toBe(0)
  })

  it('holds the key while an IN_PROGRESS record without a lease lives, and blocks it with abandoned: block', async () => {
    const tableName = await createIdempotencyTable(client)
    await client.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          id: { S: idOf('leaseless', 'k-2') },
          status: { S: 'IN_PROGRESS' },
          owner: { S: 'someone' },
          expiration: { N: String(inAnHour()) },
        },
      }),
    )
    const store = new DynamoDBStore({ client, tableName })
    const options = { store, name: 'leaseless', key: (input: string) => input, fingerprint: false as const }
    let runs = 0
    const work = makeIdempotent(async (_: string) => ++runs, { ...options, logger: false })
    const error = await work('k-2').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(IdempotencyInProgressError)
    expect((error as IdempotencyInProgressError).retryAfterSeconds).toBe(1)
    const blocking = makeIdempotent(async (_: string) => ++runs, {
      ...options,
      abandoned: 'block',
      logger: false,
    })
    await expect(blocking('k-2')).rejects.toBeInstanceOf(IdempotencyAbandonedError)
    expect(runs).toBe(0)
  })
})

describe('DynamoDBStore transactions on DynamoDB Local', () => {
  it('passes on a transaction that another item cancelled, and releases the key', async () => {
    const tableName = await createIdempotencyTable(client)
    const store = new DynamoDBStore({ client, tableName })
    let runs = 0
    const order = makeIdempotent(
      async (input: { id: string }) => {
        runs++
        // The business item's own condition fails: the order id is already taken.
        const takenOrder = {
          Put: {
            TableName: tableName,
            Item: { id: { S: 'order-taken' }, kind: { S: 'order' } },
            ConditionExpression: 'attribute_exists(#id)',
            ExpressionAttributeNames: { '#id': 'id' },
          },
        }
        await currentClaim().transactWrite(client, [takenOrder], { ordered: input.id })
        return { ordered: input.id }
      },
      { store, name: 'order', key: (input) => input.id, logger: false },
    )
    const error = await order({ id: 'o-1' }).catch((e: unknown) => e)
    expect((error as Error).name).toBe('TransactionCanceledException')
    expect(await scanTable(client, tableName)).toEqual([])
    await expect(order({ id: 'o-1' })).rejects.toMatchObject({ name: 'TransactionCanceledException' })
    expect(runs).toBe(2)
  })

  it('keeps a completion committed in a transaction when the work throws afterwards', async () => {
    const tableName = await createIdempotencyTable(client)
    const store = new DynamoDBStore({ client, tableName })
    const events: IdempotencyEvent[] = []
    let runs = 0
    const order = makeIdempotent(
      async (input: { id: string }) => {
        runs++
        const putOrder = { Put: { TableName: tableName, Item: { id: { S: `order#${input.id}` } } } }
        await currentClaim().transactWrite(client, [putOrder], { ordered: input.id })
        throw new Error('the response could not be sent')
      },
      { store, name: 'order', key: (input) => input.id, logger: false, onEvent: (e) => events.push(e) },
    )
    await expect(order({ id: 'o-2' })).rejects.toThrow('the response could not be sent')
    expect(events.map((e) => [e.outcome, e.step])).toEqual([
      ['claimed', undefined],
      ['completed', 'release'],
    ])
    // The committed result stands: a retry replays it and the work does not run again.
    await expect(order({ id: 'o-2' })).resolves.toEqual({ ordered: 'o-2' })
    expect(runs).toBe(1)
  })
})

describe('PowertoolsDynamoDBStore on records in the Powertools format', () => {
  it('replays the data of a completed record, whatever DynamoDB types it holds', async () => {
    const tableName = await createIdempotencyTable(client)
    const store = new PowertoolsDynamoDBStore({ client, tableName, keyPrefix: 'legacy', selection: 'json' })
    const id = store.recordId({ functionName: 'ignored', name: 'n', scope: '' }, 'p-1')
    expect(id).toMatch(/^legacy#/)
    await client.send(
      new PutItemCommand({
        TableName: tableName,
        Item: {
          id: { S: id },
          status: { S: 'COMPLETED' },
          expiration: { N: String(inAnHour()) },
          data: {
            M: {
              text: { S: 'ok' },
              amount: { N: '12.5' },
              paid: { BOOL: true },
              note: { NULL: true },
              lines: { L: [{ N: '1' }, { S: 'two' }] },
              tags: { SS: ['a', 'b'] },
              sizes: { NS: ['1', '2'] },
              raw: { B: Uint8Array.from([1, 2, 3]) },
              raws: { BS: [Uint8Array.from([4]), Uint8Array.from([5])] },
            },
          },
        },
      }),
    )
    let runs = 0
    const work = makeIdempotent(async (_: string) => ++runs, {
      store,
      name: 'n',
      key: (input) => input,
      logger: false,
    })
    await expect(work('p-1')).resolves.toEqual({
      text: 'ok',
      amount: 12.5,
      paid: true,
      note: null,
      lines: [1, 'two'],
      tags: ['a', 'b'],
      sizes: [1, 2],
      raw: Buffer.from([1, 2, 3]).toString('base64'),
      raws: expect.arrayContaining([
        Buffer.from([4]).toString('base64'),
        Buffer.from([5]).toString('base64'),
      ]),
    })
    expect(runs).toBe(0)
    // Powertools has no scope: a scoped key has a record of its own, which Powertools never wrote.
    const scoped = makeIdempotent(async (_: string) => ++runs, {
      store,
      name: 'n',
      key: (input) => input,
      scope: 'tenant-a',
      logger: false,
    })
    await expect(scoped('p-1')).resolves.toBe(1)
  })

  it('replays a completed record without data as undefined, and releases the key when its own work fails', async () => {
    const tableName = await createIdempotencyTable(client)
    const store = new PowertoolsDynamoDBStore({ client, tableName })
    const empty = store.recordId({ functionName: 'fn', name: 'n', scope: '' }, 'p-2')
    await client.send(
      new PutItemCommand({
        TableName: tableName,
        Item: { id: { S: empty }, status: { S: 'COMPLETED' }, expiration: { N: String(inAnHour()) } },
      }),
    )
    let runs = 0
    const work = makeIdempotent(
      async (input: string, _context?: { functionName: string }) => {
        runs++
        if (input === 'p-3' && runs === 1) throw new Error('declined')
        return runs
      },
      { store, name: 'n', key: (input) => input, logger: false },
    )
    const context = { functionName: 'fn' } // Powertools names records after the function
    await expect(work('p-2', context)).resolves.toBeUndefined()
    expect(runs).toBe(0)
    await expect(work('p-3', context)).rejects.toThrow('declined')
    await expect(work('p-3', context)).resolves.toBe(2)
  })
})

describe('RedisStore on redis-server', () => {
  it('honours a record without a clock offset, as written by hand', async () => {
    const store = new RedisStore({ client: redis.client, keyPrefix: 'edge:' })
    const id = idOf('by-hand', 'r-1')
    const header = JSON.stringify({ status: 'COMPLETED', owner: 'someone', expiresAtSeconds: inAnHour() })
    await redis.client.set(`edge:${id}`, `${header}\n{"from":"hand"}`)
    let runs = 0
    const work = makeIdempotent(async (_: string) => ++runs, {
      store,
      name: 'by-hand',
      key: (input) => input,
      fingerprint: false,
      logger: false,
    })
    await expect(work('r-1')).resolves.toEqual({ from: 'hand' })
    expect(runs).toBe(0)
    await expect(store.get(id)).resolves.toMatchObject({ status: 'COMPLETED', owner: 'someone' })
  })

  it('remembers at most 1,000 open claims to recreate: the oldest is forgotten', async () => {
    const store = new RedisStore({ client: redis.client, keyPrefix: 'open:', recreateLostRecords: true })
    const nowMs = Date.now()
    const ids = Array.from({ length: 1_001 }, (_, i) => `claim-${i}`)
    for (const id of ids) {
      const claim = { id, owner: 'o', leaseExpiresAtMs: nowMs + 60_000, expiresAtSeconds: inAnHour(), nowMs }
      expect(await store.claim(claim)).toEqual({ claimed: true })
    }
    // Redis loses every claim (a restart without persistence).
    await redis.client.del(ids.map((id) => `open:${id}`))
    expect(await store.complete('claim-0', 'o', '"first"', inAnHour())).toBe(false)
    expect(await store.complete('claim-1000', 'o', '"last"', inAnHour())).toBe(true)
    await expect(store.get('claim-1000')).resolves.toMatchObject({ status: 'COMPLETED', result: '"last"' })
    await expect(store.get('claim-0')).resolves.toBeUndefined()
  })
})
