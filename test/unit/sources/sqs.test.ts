import type { SQSEvent, SQSRecord } from 'aws-lambda'
import { describe, expect, it } from 'vitest'
import {
  IdempotencyConfigError,
  IdempotencyKeyInvalidError,
  IdempotencyResultError,
  type IdempotencyStore,
  idempotentSqsHandler,
  MemoryStore,
} from '../../../src/index.js'
import { loadEvent } from '../../helpers/events.js'
import { lambdaContext, recordingLogger } from '../../helpers/lambda.js'

interface OrderEvent {
  eventId: string
  orderId: string
  amount: number
}

const batch = () => loadEvent<SQSEvent>('sqs-order-paid-batch.json')
const context = lambdaContext({ functionName: 'orders-consumer' })
const failuresOf = (response: { batchItemFailures: { itemIdentifier: string }[] }) =>
  response.batchItemFailures.map((failure) => failure.itemIdentifier)
const withBody = (record: SQSRecord, changes: Record<string, unknown>, messageId = record.messageId) => ({
  ...record,
  messageId,
  body: JSON.stringify({ ...JSON.parse(record.body), ...changes }),
})

describe('idempotentSqsHandler options', () => {
  const store = new MemoryStore()
  const noop = async () => {}

  it.each([
    [
      'handler',
      () => idempotentSqsHandler('createOrder' as never, { store }),
      'option "handler" must be a function, got "createOrder"',
    ],
    ['options', () => idempotentSqsHandler(noop, undefined as never), 'option "options" must be an object'],
    [
      'store',
      () => idempotentSqsHandler(noop, { store: {} as IdempotencyStore }),
      'option "store" must be an IdempotencyStore',
    ],
    [
      'concurrency 0',
      () => idempotentSqsHandler(noop, { store, concurrency: 0 }),
      'option "concurrency" must be a positive integer, got 0',
    ],
    [
      'concurrency 2.5',
      () => idempotentSqsHandler(noop, { store, concurrency: 2.5 }),
      'option "concurrency" must be a positive integer, got 2.5',
    ],
    [
      'concurrency "10"',
      () => idempotentSqsHandler(noop, { store, concurrency: '10' as never }),
      'option "concurrency" must be a positive integer, got "10"',
    ],
    [
      'key',
      () => idempotentSqsHandler(noop, { store, key: 'eventId' as never }),
      'option "key" must be a function, got "eventId"',
    ],
    [
      'fingerprint',
      () => idempotentSqsHandler(noop, { store, fingerprint: 'body' as never }),
      'option "fingerprint" must be a function, got "body"',
    ],
    [
      'scope',
      () => idempotentSqsHandler(noop, { store, scope: 7 as never }),
      'option "scope" must be a string or a function, got 7',
    ],
    [
      'name',
      () => idempotentSqsHandler(noop, { store, name: 7 as never }),
      'option "name" must be a string, got 7',
    ],
    [
      'ttlSeconds',
      () => idempotentSqsHandler(noop, { store, ttlSeconds: 0 }),
      'option "ttlSeconds" must be a positive integer, got 0',
    ],
  ])('refuses an invalid %s when the factory runs, naming the value', (_, create, message) => {
    expect(create).toThrow(IdempotencyConfigError)
    expect(create).toThrow(message)
  })
})

describe('idempotentSqsHandler events', () => {
  const handler = idempotentSqsHandler(async () => {}, { store: new MemoryStore(), logger: false })

  it('answers an empty batch with no failures', async () => {
    await expect(handler({ Records: [] }, context)).resolves.toEqual({ batchItemFailures: [] })
  })

  it('refuses an event that is not an SQS event, naming its shape and not its content', async () => {
    const run = (event: unknown) => handler(event as SQSEvent, context)
    await expect(run(undefined)).rejects.toThrow('expects an SQS event with a Records array, got undefined')
    await expect(run({ detail: { card: '4242' } })).rejects.toThrow('got an object with keys detail')
    await expect(run({ Records: [null] })).rejects.toThrow('SQS record 0 has no messageId, got null')
    await expect(run({ Records: 'x' })).rejects.toBeInstanceOf(IdempotencyKeyInvalidError)
  })
})

describe('idempotentSqsHandler records', () => {
  const setup = (options: Partial<Parameters<typeof idempotentSqsHandler<OrderEvent>>[1]> = {}) => {
    const runs: string[] = []
    const logger = recordingLogger()
    const store = new MemoryStore()
    const handler = idempotentSqsHandler<OrderEvent>(
      async (body, record) => {
        runs.push(record.messageId)
        return { orderId: body.orderId }
      },
      { store, logger, ...options },
    )
    return { handler, runs, logger, store }
  }

  it('replays a redelivery: receipt handle, receive count and timestamps are not part of the fingerprint', async () => {
    const { handler, runs } = setup()
    const event = batch()
    await handler(event, context)
    const redelivered = {
      Records: event.Records.map((record) => ({
        ...record,
        receiptHandle: 'AQEBredelivered...',
        attributes: {
          ...record.attributes,
          ApproximateReceiveCount: '3',
          ApproximateFirstReceiveTimestamp: '1795867999000',
          AWSTraceHeader: 'Root=1-00000000-000000000000000000000000',
        },
      })),
    }

    await expect(handler(redelivered, context)).resolves.toEqual({ batchItemFailures: [] })
    expect(runs).toHaveLength(4)
  })

  it('fails a record whose key was used with a different body, without running it', async () => {
    const { handler, runs, logger } = setup({ key: (body) => body.eventId })
    const [first] = batch().Records as [SQSRecord]
    const changed = withBody(first, { amount: 1 }, 'ffffffff-0000-4000-8000-000000000001')

    const response = await handler({ Records: [first, changed] }, context)

    expect(failuresOf(response)).toEqual([changed.messageId])
    expect(runs).toEqual([first.messageId])
    expect(logger.lines[0]?.details).toMatchObject({
      messageId: changed.messageId,
      outcome: 'IDEMPOTENCY_KEY_REUSED',
    })
  })

  it('compares the parsed body: the same event serialized in another key order replays', async () => {
    const { handler, runs } = setup({ key: (body) => body.eventId })
    const [first] = batch().Records as [SQSRecord]
    const reordered = {
      ...first,
      messageId: 'ffffffff-0000-4000-8000-000000000002',
      body: JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(first.body)).reverse()), null, 2),
    }

    await expect(handler({ Records: [first, reordered] }, context)).resolves.toEqual({
      batchItemFailures: [],
    })
    expect(runs).toEqual([first.messageId])
  })

  it('replays any body under the same key when fingerprint is false', async () => {
    const { handler, runs } = setup({ key: (body) => body.eventId, fingerprint: false })
    const [first] = batch().Records as [SQSRecord]
    const changed = withBody(first, { amount: 1 }, 'ffffffff-0000-4000-8000-000000000003')
    await expect(handler({ Records: [first, changed] }, context)).resolves.toEqual({ batchItemFailures: [] })
    expect(runs).toEqual([first.messageId])
  })

  it('fails only the record whose key selector throws or finds no key', async () => {
    const { handler, runs, logger } = setup({
      key: (body) => {
        if (body.orderId === 'ord_1002') throw new TypeError('no event id')
        return body.orderId === 'ord_1003' ? undefined : body.eventId
      },
    })
    const event = batch()

    const response = await handler(event, context)

    expect(failuresOf(response)).toEqual([event.Records[1]?.messageId, event.Records[3]?.messageId])
    expect(runs).toEqual([event.Records[0]?.messageId])
    expect(logger.lines.map((line) => line.details?.outcome)).toEqual([
      'IDEMPOTENCY_INPUT_INVALID',
      'IDEMPOTENCY_KEY_MISSING',
    ])
  })

  it('treats a number key and its string as one key', async () => {
    const { handler, runs } = setup({ key: (body) => (body.orderId === 'ord_1001' ? 42 : '42') })
    const [first, second] = batch().Records as [SQSRecord, SQSRecord]
    await expect(
      handler({ Records: [first, withBody(second, JSON.parse(first.body))] }, context),
    ).resolves.toEqual({
      batchItemFailures: [],
    })
    expect(runs).toEqual([first.messageId])
  })

  it('keeps scopes apart: the same key in two scopes runs twice', async () => {
    const seen: unknown[] = []
    const { handler, runs } = setup({
      key: () => 'same-key',
      fingerprint: false,
      scope: (body, record, lambda) => {
        seen.push([typeof body, typeof record.messageId, lambda?.functionName])
        return body.orderId === 'ord_1002' ? 'tenant-b' : 'tenant-a'
      },
    })
    const [first, second] = batch().Records as [SQSRecord, SQSRecord]

    await handler({ Records: [first, second] }, context)

    expect(runs).toEqual([first.messageId, second.messageId])
    expect(seen[0]).toEqual(['object', 'string', 'orders-consumer'])
  })

  it('reports a messageId once even when SQS delivered the message twice and both copies failed', async () => {
    const logger = recordingLogger()
    const handler = idempotentSqsHandler(
      async () => {
        throw new Error('downstream unavailable')
      },
      { store: new MemoryStore(), logger },
    )
    const [first] = batch().Records as [SQSRecord]
    const response = await handler({ Records: [first, { ...first, receiptHandle: 'AQEBother...' }] }, context)
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: first.messageId }] })
    expect(logger.lines).toHaveLength(2)
  })

  it('counts a record whose result cannot be stored as done, and never runs it again', async () => {
    let runs = 0
    const logger = recordingLogger()
    const handler = idempotentSqsHandler(
      async () => {
        runs++
        return { total: 10n }
      },
      { store: new MemoryStore(), logger },
    )
    const event = { Records: [batch().Records[0] as SQSRecord] }

    await expect(handler(event, context)).resolves.toEqual({ batchItemFailures: [] })
    await expect(handler(event, context)).resolves.toEqual({ batchItemFailures: [] })
    expect(runs).toBe(1)
    expect(logger.lines).toContainEqual({
      message: expect.stringContaining('will not run again for this key'),
      details: expect.objectContaining({ outcome: 'not-stored' }),
    })
  })

  it('fails every record without running it when the store cannot claim', async () => {
    const store = new MemoryStore()
    const failing: IdempotencyStore = {
      maxResultBytes: store.maxResultBytes,
      claim: async () => {
        throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' })
      },
      complete: (...args) => store.complete(...args),
      release: (...args) => store.release(...args),
      get: (id) => store.get(id),
    }
    let runs = 0
    const logger = recordingLogger()
    const handler = idempotentSqsHandler(
      async () => {
        runs++
      },
      { store: failing, logger },
    )
    const event = batch()

    const response = await handler(event, context)

    expect(failuresOf(response)).toEqual(event.Records.map((record) => record.messageId))
    expect(runs).toBe(0)
    expect(logger.lines[0]?.details).toMatchObject({
      outcome: 'IDEMPOTENCY_STORE_UNAVAILABLE',
      error: expect.stringContaining('ThrottlingException: Rate exceeded'),
    })
  })

  it('runs without a Lambda context, holding each claim for leaseMs', async () => {
    const store = new MemoryStore()
    const leases: (number | undefined)[] = []
    const handler = idempotentSqsHandler(
      async () => {
        leases.push(store.records()[0]?.leaseExpiresAtMs)
      },
      { store, leaseMs: 5_000, now: () => 1_000_000, logger: false },
    )
    const event = { Records: [batch().Records[0] as SQSRecord] }
    await expect(handler(event, undefined as never)).resolves.toEqual({ batchItemFailures: [] })
    expect(leases).toEqual([1_005_000])
  })

  it('reports the outcome of every record to onEvent', async () => {
    const outcomes: string[] = []
    const { handler } = setup({ onEvent: (event) => outcomes.push(event.outcome) })
    const [first] = batch().Records as [SQSRecord]

    await handler({ Records: [first, { ...first, receiptHandle: 'AQEBother...' }] }, context)

    expect(outcomes).toEqual(['claimed', 'completed', 'replayed'])
  })

  it('tells a record handler failure apart from its own result errors', async () => {
    const handler = idempotentSqsHandler(
      async () => {
        throw new IdempotencyResultError('from another idempotent call')
      },
      { store: new MemoryStore(), logger: false },
    )
    const event = { Records: [batch().Records[0] as SQSRecord] }
    expect(failuresOf(await handler(event, context))).toEqual([event.Records[0]?.messageId])
  })
})
