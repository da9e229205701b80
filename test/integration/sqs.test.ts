import middy from '@middy/core'
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda'
import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import { DynamoDBStore, idempotentSqsHandler, recordId } from '../../src/index.js'
import { countingClient, createIdempotencyTable, scanTable } from '../helpers/dynamodb.js'
import { loadEvent } from '../helpers/events.js'
import { delay, gate, lambdaContext, manualClock, recordingLogger } from '../helpers/lambda.js'

const { client } = countingClient()
afterAll(() => client.destroy())

const FUNCTION = 'orders-consumer'
const context = (remainingMs?: number): Context =>
  lambdaContext({ functionName: FUNCTION, ...(remainingMs === undefined ? {} : { remainingMs }) })
const idOf = (key: string) => recordId({ functionName: FUNCTION, name: '', scope: '' }, key)

interface OrderEvent {
  type: string
  eventId: string
  orderId: string
  customerId: string
}

/** The same records as SQS hands them over again: new receipt handles, a higher receive count. */
const redeliver = (event: SQSEvent, messageIds?: string[]): SQSEvent => ({
  Records: event.Records.filter((record) => messageIds?.includes(record.messageId) ?? true).map((record) => ({
    ...record,
    receiptHandle: `${record.receiptHandle.slice(0, 24)}-redelivered`,
    attributes: {
      ...record.attributes,
      ApproximateReceiveCount: String(Number(record.attributes.ApproximateReceiveCount) + 1),
    },
  })),
})

/** A standard-queue batch of `count` distinct order_paid messages, shaped like the fixture's. */
const orderBatch = (count: number): SQSEvent => {
  const [template] = loadEvent<SQSEvent>('sqs-order-paid-batch.json').Records as [SQSRecord]
  return {
    Records: Array.from({ length: count }, (_, index) => ({
      ...template,
      messageId: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
      body: JSON.stringify({
        ...JSON.parse(template.body),
        eventId: `evt_${index}`,
        orderId: `ord_${index}`,
      }),
    })),
  }
}

const failuresOf = (response: { batchItemFailures: { itemIdentifier: string }[] }) =>
  response.batchItemFailures.map((failure) => failure.itemIdentifier)

describe('idempotentSqsHandler on DynamoDB Local', () => {
  let store: DynamoDBStore
  let tableName: string
  beforeEach(async () => {
    tableName = await createIdempotencyTable(client)
    store = new DynamoDBStore({ client, tableName })
  })

  /** An order service whose createOrder is the side effect that must never happen twice. */
  const orderService = (fail: (body: OrderEvent) => boolean = () => false) => {
    const orders: string[] = []
    const calls: string[] = []
    const createOrder = async (body: OrderEvent) => {
      calls.push(body.eventId)
      await delay(5)
      if (fail(body)) throw new Error(`payment provider rejected ${body.orderId}`)
      orders.push(body.orderId)
      return { orderId: body.orderId }
    }
    return { orders, calls, createOrder }
  }

  describe('duplicates', () => {
    it('creates one order for an order_paid event the producer sent twice', async () => {
      const event = loadEvent<SQSEvent>('sqs-order-paid-batch.json')
      const service = orderService()
      const handler = idempotentSqsHandler<OrderEvent>(service.createOrder, {
        store,
        key: (body) => body.eventId,
        logger: false,
      })

      const response = await handler(event, context())

      expect(response).toEqual({ batchItemFailures: [] })
      expect(service.orders.sort()).toEqual(['ord_1001', 'ord_1002', 'ord_1003'])
      const items = await scanTable(client, tableName)
      expect(items).toHaveLength(3)
      for (const item of items) expect(item.status).toEqual({ S: 'COMPLETED' })
    })

    it('runs a message SQS delivered twice in one batch once, and counts both copies as successes', async () => {
      const fixture = loadEvent<SQSEvent>('sqs-order-paid-batch.json')
      const [first, second] = fixture.Records as [SQSRecord, SQSRecord]
      const event = { Records: [first, second, ...redeliver({ Records: [first] }).Records] }
      const service = orderService()
      // Default key: the messageId. The work takes long enough that the copy arrives while it runs.
      const handler = idempotentSqsHandler<OrderEvent>(
        async (body) => {
          await delay(50)
          return service.createOrder(body)
        },
        { store, logger: false },
      )

      const response = await handler(event, context())

      expect(response).toEqual({ batchItemFailures: [] })
      expect(service.calls.sort()).toEqual(
        [JSON.parse(first.body).eventId, JSON.parse(second.body).eventId].sort(),
      )
      expect(service.orders.sort()).toEqual(['ord_1001', 'ord_1002'])
    })

    it('runs a key shared by two FIFO message groups once', async () => {
      const event = loadEvent<SQSEvent>('sqs-fifo-two-groups.json')
      const [a1, b1] = event.Records as [SQSRecord, SQSRecord]
      // Group B carries group A's first event too, under its own message id.
      b1.body = a1.body
      const runs: string[] = []
      const handler = idempotentSqsHandler<OrderEvent>(
        async (body) => {
          runs.push(body.eventId)
          await delay(30)
        },
        { store, key: (body) => body.eventId, logger: false },
      )

      const response = await handler(event, context())

      expect(response).toEqual({ batchItemFailures: [] })
      expect(runs.filter((eventId) => eventId === 'evt_A1_1')).toHaveLength(1)
      expect(runs).toHaveLength(5)
    })

    it('runs each record once when two invocations receive the same batch at the same time', async () => {
      const event = orderBatch(6)
      const runs = new Map<string, number>()
      const handler = idempotentSqsHandler<OrderEvent>(
        async (body) => {
          runs.set(body.eventId, (runs.get(body.eventId) ?? 0) + 1)
          await delay(50)
        },
        { store, logger: false },
      )

      const responses = await Promise.all([handler(event, context()), handler(redeliver(event), context())])

      expect([...runs.values()]).toEqual([1, 1, 1, 1, 1, 1])
      // A record the other invocation was still running is a failure here: SQS retries it later.
      const failed = [...new Set(responses.flatMap(failuresOf))]
      const retry = await handler(redeliver(event, failed), context())
      expect(retry).toEqual({ batchItemFailures: [] })
      expect([...runs.values()]).toEqual([1, 1, 1, 1, 1, 1])
    })
  })

  describe('failures', () => {
    it('reports a failing record alone in batchItemFailures and releases its key', async () => {
      const event = loadEvent<SQSEvent>('sqs-order-paid-batch.json')
      const failing = event.Records[1] as SQSRecord
      const service = orderService((body) => body.orderId === 'ord_1002')
      const logger = recordingLogger()
      const handler = idempotentSqsHandler<OrderEvent>(service.createOrder, {
        store,
        key: (body) => body.eventId,
        logger,
      })

      const response = await handler(event, context())

      expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: failing.messageId }] })
      expect(await store.get(idOf(JSON.parse(failing.body).eventId))).toBeUndefined()
      expect(await store.get(idOf('evt_01JDQ8M6T3V0ZK9Y2W4X5R7P1N'))).toMatchObject({ status: 'COMPLETED' })
      expect(service.orders.sort()).toEqual(['ord_1001', 'ord_1003'])
      expect(logger.lines).toEqual([
        {
          message: expect.stringContaining('batchItemFailures'),
          details: expect.objectContaining({
            messageId: failing.messageId,
            error: 'Error: payment provider rejected ord_1002',
          }),
        },
      ])
    })

    it('re-runs only the record that failed when the batch is redelivered whole', async () => {
      const event = loadEvent<SQSEvent>('sqs-order-paid-batch.json')
      let providerDown = true
      const service = orderService((body) => providerDown && body.orderId === 'ord_1002')
      const handler = idempotentSqsHandler<OrderEvent>(service.createOrder, { store, logger: false })

      const first = await handler(event, context())
      expect(failuresOf(first)).toEqual([event.Records[1]?.messageId])
      const callsBefore = service.calls.length

      providerDown = false
      const second = await handler(redeliver(event), context())

      expect(second).toEqual({ batchItemFailures: [] })
      expect(service.calls.slice(callsBefore)).toEqual([JSON.parse(event.Records[1]?.body ?? '').eventId])
      // Default key (messageId): the producer's second copy is a message of its own, run once.
      expect(service.orders.sort()).toEqual(['ord_1001', 'ord_1001', 'ord_1002', 'ord_1003'])
    })

    it('fails a poison record alone, logs its messageId and never its body, and never runs it', async () => {
      const event = loadEvent<SQSEvent>('sqs-poison-batch.json')
      const poison = event.Records[1] as SQSRecord
      const service = orderService()
      const logger = recordingLogger()
      const handler = idempotentSqsHandler<OrderEvent>(service.createOrder, { store, logger })

      const response = await handler(event, context())
      const again = await handler(redeliver(event, [poison.messageId]), context())

      expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: poison.messageId }] })
      expect(again).toEqual({ batchItemFailures: [{ itemIdentifier: poison.messageId }] })
      expect(service.calls).toHaveLength(2)
      expect(service.orders.sort()).toEqual(['ord_2001', 'ord_2003'])
      expect(logger.lines[0]).toEqual({
        message: expect.stringContaining('not valid JSON'),
        details: expect.objectContaining({ messageId: poison.messageId, outcome: 'invalid-json' }),
      })
      const logged = JSON.stringify(logger.lines)
      for (const fragment of ['ord_2002', 'pay_Er34', 'cus_E5', 'evt_01JDQ9A4']) {
        expect(logged).not.toContain(fragment)
      }
      expect(await scanTable(client, tableName)).toHaveLength(2)
    })
  })

  describe('standard queues', () => {
    it('runs a 10-record batch with 100 ms of work per record concurrently, within the bound', async () => {
      let active = 0
      let maxActive = 0
      const handler = idempotentSqsHandler<OrderEvent>(
        async () => {
          active++
          maxActive = Math.max(maxActive, active)
          await delay(100)
          active--
        },
        { store, logger: false },
      )

      const response = await handler(orderBatch(10), context())

      expect(response).toEqual({ batchItemFailures: [] })
      expect(maxActive).toBeGreaterThan(1)
      expect(maxActive).toBeLessThanOrEqual(10)
    })

    it('never processes more records at once than concurrency, and reaches it', async () => {
      const bound = 3
      const allStarted = gate()
      let started = 0
      let active = 0
      let maxActive = 0
      const handler = idempotentSqsHandler<OrderEvent>(
        async () => {
          active++
          maxActive = Math.max(maxActive, active)
          started++
          if (started === bound) allStarted.open()
          // The first records wait for each other: a handler that ran them one by one would only
          // ever see one at a time (and wait the fallback out).
          if (started <= bound) await Promise.race([allStarted.opened, delay(2_000)])
          else await delay(10)
          active--
        },
        { store, concurrency: bound, logger: false },
      )

      const response = await handler(orderBatch(12), context())

      expect(response).toEqual({ batchItemFailures: [] })
      expect(started).toBe(12)
      expect(maxActive).toBe(bound)
    })

    it('hands the handler the body parsed once: the same object the key selector saw', async () => {
      const seenByKey = new Map<string, unknown>()
      const sameObject: boolean[] = []
      const handler = idempotentSqsHandler<OrderEvent>(
        async (body, record) => {
          sameObject.push(seenByKey.get(record.messageId) === body)
        },
        {
          store,
          key: (body, record) => {
            seenByKey.set(record.messageId, body)
            return body.eventId
          },
          logger: false,
        },
      )

      await handler(orderBatch(3), context())

      expect(sameObject).toEqual([true, true, true])
    })

    it("claims each record with the invocation's remaining time as its lease", async () => {
      const clock = manualClock()
      const leases: unknown[] = []
      const handler = idempotentSqsHandler<OrderEvent>(
        async (_body, record) => {
          leases.push((await store.get(idOf(record.messageId)))?.leaseExpiresAtMs)
        },
        { store, now: clock.now, logger: false },
      )

      await handler(orderBatch(2), context(42_000))

      expect(leases).toEqual([clock.now() + 42_000, clock.now() + 42_000])
    })
  })

  describe('FIFO queues', () => {
    const messageIdOf = (event: SQSEvent, eventId: string) =>
      event.Records.find((record) => JSON.parse(record.body).eventId === eventId)?.messageId

    it('runs each message group in order, stops a group at its first failure, and lets the other go on', async () => {
      const event = loadEvent<SQSEvent>('sqs-fifo-two-groups.json')
      const steps: string[] = []
      const groupBDone = gate()
      let ledgerDown = true
      const handler = idempotentSqsHandler<OrderEvent>(
        async (body) => {
          steps.push(`start ${body.eventId}`)
          // Group A's first step waits for all of group B: groups must not wait for each other,
          // while A's next step must wait for it. (The fallback only keeps a broken build from hanging.)
          if (body.eventId === 'evt_A1_1') await Promise.race([groupBDone.opened, delay(5_000)])
          else await delay(5)
          if (body.eventId === 'evt_B7_3') groupBDone.open()
          if (ledgerDown && body.eventId === 'evt_A1_2') throw new Error('ledger unavailable')
          steps.push(`end ${body.eventId}`)
        },
        { store, key: (body) => body.eventId, logger: false },
      )

      const response = await handler(event, context())

      expect(failuresOf(response)).toEqual([messageIdOf(event, 'evt_A1_2'), messageIdOf(event, 'evt_A1_3')])
      const groupA = steps.filter((step) => step.includes('_A1_'))
      const groupB = steps.filter((step) => step.includes('_B7_'))
      expect(groupA).toEqual(['start evt_A1_1', 'end evt_A1_1', 'start evt_A1_2'])
      expect(groupB).toEqual([
        'start evt_B7_1',
        'end evt_B7_1',
        'start evt_B7_2',
        'end evt_B7_2',
        'start evt_B7_3',
        'end evt_B7_3',
      ])
      // Group B ran from start to end while group A's first step was running.
      expect(steps.indexOf('start evt_A1_1')).toBeLessThan(steps.indexOf('end evt_B7_3'))
      expect(steps.indexOf('end evt_B7_3')).toBeLessThan(steps.indexOf('end evt_A1_1'))

      // Lambda hands the failed records back; they run, in order, and nothing else does.
      ledgerDown = false
      steps.length = 0
      const retry = await handler(redeliver(event, failuresOf(response)), context())
      expect(retry).toEqual({ batchItemFailures: [] })
      expect(steps).toEqual(['start evt_A1_2', 'end evt_A1_2', 'start evt_A1_3', 'end evt_A1_3'])

      steps.length = 0
      expect(await handler(redeliver(event), context())).toEqual({ batchItemFailures: [] })
      expect(steps).toEqual([])
    })
  })

  describe('with middy()', () => {
    it('keeps every guarantee when the handler is wrapped by middy()', async () => {
      const event = loadEvent<SQSEvent>('sqs-order-paid-batch.json')
      let providerDown = true
      const service = orderService((body) => providerDown && body.orderId === 'ord_1003')
      const seenByMiddleware: number[] = []
      const handler = middy(
        idempotentSqsHandler<OrderEvent>(service.createOrder, {
          store,
          key: (body) => body.eventId,
          logger: false,
        }),
      ).use({
        before: (request) => {
          seenByMiddleware.push(request.event.Records.length)
        },
      })

      const first = await handler(event, context())
      providerDown = false
      const second = await handler(redeliver(event), context())

      expect(first).toEqual({ batchItemFailures: [{ itemIdentifier: event.Records[3]?.messageId }] })
      expect(second).toEqual({ batchItemFailures: [] })
      expect(service.orders.sort()).toEqual(['ord_1001', 'ord_1002', 'ord_1003'])
      expect(service.calls.filter((eventId) => eventId === 'evt_01JDQ8P9D2F6YH3J5K7M9N1Q3S')).toHaveLength(2)
      expect(seenByMiddleware).toEqual([4, 4])
    })
  })
})
