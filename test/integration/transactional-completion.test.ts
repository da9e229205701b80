import { randomUUID } from 'node:crypto'
import { CreateTableCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient, GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb'
import middy from '@middy/core'
import type { SQSEvent } from 'aws-lambda'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  currentClaim,
  DynamoDBStore,
  IdempotencyConfigError,
  IdempotencyFencedError,
  IdempotencyResultError,
  idempotent,
  idempotentSqsHandler,
  inspectKey,
  MemoryStore,
  makeIdempotent,
} from '../../src/index.js'
import { countingClient, createIdempotencyTable } from '../helpers/dynamodb.js'
import { loadEvent } from '../helpers/events.js'
import { delay, lambdaContext, manualClock, until } from '../helpers/lambda.js'

const { client, counter } = countingClient()
const documents = DynamoDBDocumentClient.from(client)
afterAll(() => client.destroy())

let ordersTable: string
beforeAll(async () => {
  ordersTable = `orders-${randomUUID()}`
  await client.send(
    new CreateTableCommand({
      TableName: ordersTable,
      AttributeDefinitions: [{ AttributeName: 'orderId', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'orderId', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  )
})

const newStore = async () => new DynamoDBStore({ client, tableName: await createIdempotencyTable(client) })

/** A business write in the low-level form: one order, created once. */
const putOrder = (orderId: string, total: number) => ({
  Put: {
    TableName: ordersTable,
    Item: { orderId: { S: orderId }, total: { N: String(total) } },
    ConditionExpression: 'attribute_not_exists(orderId)',
  },
})

const orderExists = async (orderId: string) =>
  (
    await client.send(
      new GetItemCommand({ TableName: ordersTable, Key: { orderId: { S: orderId } }, ConsistentRead: true }),
    )
  ).Item !== undefined

/** A work that never returns: the invocation died (a timeout, out of memory) after what it did. */
const never = () => new Promise<never>(() => {})

describe('transactional completion on DynamoDB Local', () => {
  it('commits the business write and the record together, and costs the claim plus one transaction', async () => {
    const store = await newStore()
    let runs = 0
    const order = `ord_${randomUUID()}`
    const createOrder = makeIdempotent(
      async (input: { orderId: string; total: number }) => {
        runs++
        const result = { orderId: input.orderId, status: 'created' }
        await currentClaim().transactWrite(client, [putOrder(input.orderId, input.total)], result)
        return result
      },
      { store, name: 'createOrder', key: (input) => input.orderId },
    )
    const before = counter.requests
    expect(await createOrder({ orderId: order, total: 100 })).toEqual({ orderId: order, status: 'created' })
    expect(counter.requests - before).toBe(2) // PutItem (claim) + TransactWriteItems
    expect(await orderExists(order)).toBe(true)

    const replayFrom = counter.requests
    expect(await createOrder({ orderId: order, total: 100 })).toEqual({ orderId: order, status: 'created' })
    expect(counter.requests - replayFrom).toBe(1)
    expect(runs).toBe(1)
  })

  it('replays after a crash between the effect and the end of the work; without it the retry runs again', async () => {
    for (const transactional of [true, false]) {
      const store = await newStore()
      const clock = manualClock(Date.now())
      let effects = 0
      const order = `ord_${randomUUID()}`
      let crash = true
      const createOrder = makeIdempotent(
        async (orderId: string) => {
          const result = { orderId }
          if (transactional) {
            await currentClaim().transactWrite(client, [putOrder(`${orderId}#${effects}`, 1)], result)
          } else {
            await client.send(new PutItemCommand(putOrder(`${orderId}#${effects}`, 1).Put))
          }
          effects++
          if (crash) return never()
          return result
        },
        { store, name: 'createOrder', key: (id) => id, leaseMs: 1_000, now: clock.now },
      )
      void createOrder(order) // dies after its effect
      await until(() => effects === 1)
      crash = false
      clock.advance(2_000) // the lease ended: the next delivery takes the key over, or replays
      expect(await createOrder(order)).toEqual({ orderId: order })
      expect(effects).toBe(transactional ? 1 : 2)
    }
  })

  it('cancels the whole transaction of a late invocation whose key was taken over, and leaves the new owner alone', async () => {
    const store = await newStore()
    const clock = manualClock(Date.now())
    const order = `ord_${randomUUID()}`
    let takenOver: () => void = () => {}
    const takeover = new Promise<void>((resolve) => {
      takenOver = resolve
    })
    let runs = 0
    const createOrder = makeIdempotent(
      async (orderId: string) => {
        runs++
        if (runs === 1) {
          await takeover // this invocation stalls past its lease
          await currentClaim().transactWrite(client, [putOrder(orderId, 1)], 'late')
          return 'late'
        }
        return never() // the new owner is still running
      },
      { store, name: 'createOrder', key: (id) => id, leaseMs: 1_000, now: clock.now, logger: false },
    )
    const late = createOrder(order)
    await delay(100)
    clock.advance(2_000)
    void createOrder(order) // takes the key over
    await until(
      async () =>
        (await inspectKey(store, { key: order, name: 'createOrder' }, clock.now()))?.abandoned === false,
    )
    const newOwner = await inspectKey(store, { key: order, name: 'createOrder' }, clock.now())
    takenOver()
    await expect(late).rejects.toBeInstanceOf(IdempotencyFencedError)
    expect(await orderExists(order)).toBe(false)
    expect(await inspectKey(store, { key: order, name: 'createOrder' }, clock.now())).toEqual(newOwner)
    expect(newOwner).toMatchObject({ status: 'IN_PROGRESS', abandoned: false })
  })

  it('refuses a result that cannot be stored before anything is sent, and frees the key', async () => {
    const store = await newStore()
    const order = `ord_${randomUUID()}`
    let runs = 0
    const createOrder = makeIdempotent(
      async (orderId: string) => {
        runs++
        const result = runs === 1 ? { total: 10n } : { total: 10 }
        await currentClaim().transactWrite(client, [putOrder(orderId, 10)], result)
        return result
      },
      { store, name: 'createOrder', key: (id) => id },
    )
    await expect(createOrder(order)).rejects.toBeInstanceOf(IdempotencyResultError)
    expect(await orderExists(order)).toBe(false)
    expect(await createOrder(order)).toEqual({ total: 10 })
    expect(await orderExists(order)).toBe(true)
  })

  it('is a loud error when the work returns another value than it committed; retries replay the committed one', async () => {
    const store = await newStore()
    const order = `ord_${randomUUID()}`
    const createOrder = makeIdempotent(
      async (orderId: string) => {
        await currentClaim().transactWrite(client, [putOrder(orderId, 1)], { committed: true })
        return { committed: false }
      },
      { store, name: 'createOrder', key: (id) => id },
    )
    await expect(createOrder(order)).rejects.toThrow(/other than the one it committed/)
    expect(await createOrder(order)).toEqual({ committed: true })
  })

  it('checks a completion item the work sent itself (document form), and refuses one it never committed', async () => {
    const store = new DynamoDBStore({ client: documents, tableName: await createIdempotencyTable(client) })
    const order = `ord_${randomUUID()}`
    let send = false
    const createOrder = makeIdempotent(
      async (orderId: string) => {
        const item = currentClaim().completionItem('created', 'document')
        if (send) {
          await documents.send(
            new TransactWriteCommand({
              TransactItems: [
                { Put: { TableName: ordersTable, Item: { orderId, total: 5 } } },
                item as never,
              ],
            }),
          )
        }
        return 'created'
      },
      { store, name: 'createOrder', key: (id) => id },
    )
    await expect(createOrder(order)).rejects.toBeInstanceOf(IdempotencyConfigError)
    expect(await inspectKey(store, { key: order, name: 'createOrder' })).toBeUndefined() // released
    send = true
    expect(await createOrder(order)).toBe('created')
    expect(await createOrder(order)).toBe('created')
    const stored = await documents.send(new GetCommand({ TableName: ordersTable, Key: { orderId: order } }))
    expect(stored.Item).toEqual({ orderId: order, total: 5 })
  })

  it('counts the record as one of the 100 items of a transaction', async () => {
    const store = await newStore()
    const items = (count: number, prefix: string) =>
      Array.from({ length: count }, (_, index) => putOrder(`${prefix}-${index}`, index))
    const batchWrite = makeIdempotent(
      async (input: { count: number; prefix: string }) => {
        await currentClaim().transactWrite(client, items(input.count, input.prefix), input.count)
        return input.count
      },
      { store, name: 'batchWrite', key: (input) => input.prefix },
    )
    const tooMany = randomUUID()
    await expect(batchWrite({ count: 100, prefix: tooMany })).rejects.toThrow(/at most 99 items/)
    expect(await orderExists(`${tooMany}-0`)).toBe(false)
    const fits = randomUUID()
    expect(await batchWrite({ count: 99, prefix: fits })).toBe(99)
    expect(await orderExists(`${fits}-98`)).toBe(true)
  })

  it('keeps the claims of concurrent SQS records apart, each committed in its own transaction', async () => {
    const store = new DynamoDBStore({ client: documents, tableName: await createIdempotencyTable(client) })
    const batch = loadEvent<SQSEvent>('sqs-order-paid-batch.json')
    let inFlight = 0
    let overlap = 0
    const handler = idempotentSqsHandler<{ eventId: string }>(
      async (body) => {
        inFlight++
        overlap = Math.max(overlap, inFlight)
        await delay(20)
        const result = { order: `ord-${body.eventId}` }
        await currentClaim().transactWrite(
          documents,
          [
            {
              Put: {
                TableName: ordersTable,
                Item: { orderId: `${batch.Records[0]?.messageId}-${body.eventId}` },
              },
            },
          ],
          result,
        )
        inFlight--
        return result
      },
      { store, key: (body) => body.eventId, concurrency: 5 },
    )
    expect((await handler(batch, lambdaContext())).batchItemFailures).toEqual([])
    expect(overlap).toBeGreaterThan(1)
    for (const record of batch.Records) {
      const eventId = JSON.parse(record.body).eventId
      expect(await inspectKey(store, { key: eventId, functionName: 'payments-charge' })).toMatchObject({
        status: 'COMPLETED',
        hasResult: true,
      })
    }
  })

  it('gives the running work a downstream key that is stable per key, distinct per name and scope, and never the raw key', async () => {
    const store = new MemoryStore()
    const seen: string[] = []
    let fail = true
    const charge = makeIdempotent(
      async (_input: { key: string; tenant: string }) => {
        seen.push(currentClaim().downstreamKey('payment-provider'), currentClaim().downstreamKey('ledger'))
        if (fail) throw new Error('provider timeout')
        return 'ok'
      },
      { store, name: 'charge', key: (input) => input.key, scope: (input) => input.tenant },
    )
    await expect(charge({ key: 'pay_1', tenant: 'a' })).rejects.toThrow('provider timeout')
    fail = false
    await charge({ key: 'pay_1', tenant: 'a' })
    await charge({ key: 'pay_1', tenant: 'b' })
    const [first, ledger, again, , otherTenant] = seen
    expect(again).toBe(first)
    expect(ledger).not.toBe(first)
    expect(otherTenant).not.toBe(first)
    expect(seen.join()).not.toContain('pay_1')
  })

  it('gives a Middy HTTP handler its claim through the context, and replays the committed response', async () => {
    const store = await newStore()
    let runs = 0
    const handler = middy(async (_event: unknown, context: unknown) => {
      runs++
      const orderId = `ord_${randomUUID()}`
      const response = { statusCode: 201, body: JSON.stringify({ orderId }) }
      await currentClaim(context).transactWrite(client, [putOrder(orderId, 1)], response)
      return response
    }).use(idempotent({ store }))
    const event = loadEvent<Record<string, never>>('http-v2-post-payment.json')
    const before = counter.requests
    const first = (await handler(event, lambdaContext())) as unknown as { statusCode: number; body: string }
    expect(counter.requests - before).toBe(2)
    const replay = (await handler(event, lambdaContext())) as unknown as {
      headers: Record<string, string>
      body: string
    }
    expect(replay.headers['Idempotent-Replayed']).toBe('true')
    expect(replay.body).toBe(first.body)
    expect(runs).toBe(1)
  })

  it('tells at use that a store without transactions cannot join one', async () => {
    const work = makeIdempotent(
      async () => {
        await currentClaim().transactWrite(client, [], 'x')
        return 'x'
      },
      { store: new MemoryStore(), name: 'work' },
    )
    await expect(work()).rejects.toThrow(/option "store" must be a store that joins a DynamoDB transaction/)
    expect(() => currentClaim()).toThrow(/called inside the work/)
  })
})
