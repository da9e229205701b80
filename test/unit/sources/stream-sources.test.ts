import type { DynamoDBStreamEvent, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda'
import { describe, expect, it } from 'vitest'
import {
  type DynamoDBStreamChange,
  IdempotencyConfigError,
  IdempotencyKeyInvalidError,
  idempotentDynamoDBStreamHandler,
  idempotentKafkaHandler,
  idempotentKinesisHandler,
  type KafkaEvent,
  type KafkaMessage,
  MemoryStore,
} from '../../../src/index.js'
import { loadEvent } from '../../helpers/events.js'
import { lambdaContext, recordingLogger } from '../../helpers/lambda.js'

const context = lambdaContext({ functionName: 'order-stream-consumer' })
const base64 = (value: string | Uint8Array) => Buffer.from(value).toString('base64')

describe('idempotentKinesisHandler', () => {
  const withData = (record: KinesisStreamRecord, data: string, n: number): KinesisStreamRecord => ({
    ...record,
    eventID: `${record.eventID}${n}`,
    kinesis: { ...record.kinesis, sequenceNumber: `${record.kinesis.sequenceNumber}${n}`, data },
  })

  it('hands over data parsed when it is JSON, else the string, else the bytes', async () => {
    const [template] = loadEvent<KinesisStreamEvent>('kinesis-order-paid-batch.json').Records as [
      KinesisStreamRecord,
    ]
    const seen: unknown[] = []
    const handler = idempotentKinesisHandler(
      async (data) => {
        seen.push(data)
      },
      { store: new MemoryStore(), logger: false },
    )
    const binary = new Uint8Array([0xff, 0xfe, 0x00, 0x81])

    const response = await handler(
      {
        Records: [
          withData(template, base64('{"eventId":"evt_1"}'), 1),
          withData(template, base64('plain text'), 2),
          withData(template, base64(binary), 3),
        ],
      },
      context,
    )

    expect(response).toEqual({ batchItemFailures: [] })
    expect(seen).toEqual([{ eventId: 'evt_1' }, 'plain text', binary])
  })

  it('reports a poison record by its sequence number and runs nothing after it in its shard', async () => {
    const event = loadEvent<KinesisStreamEvent>('kinesis-poison-batch.json')
    const runs: string[] = []
    const logger = recordingLogger()
    const handler = idempotentKinesisHandler<unknown>(
      async (data) => {
        if (typeof data !== 'object') throw new TypeError('not an order_paid event')
        runs.push((data as { orderId: string }).orderId)
      },
      { store: new MemoryStore(), logger },
    )

    const response = await handler(event, context)

    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: event.Records[1]?.kinesis.sequenceNumber }],
    })
    expect(runs).toEqual(['ord_3031'])
    expect(logger.lines.map((line) => line.details?.outcome)).toEqual(['handler-failed', 'group-stopped'])
    expect(logger.lines[0]?.details).toMatchObject({ eventID: event.Records[1]?.eventID })
  })

  it('fails a record whose data is not base64 without running it, and never logs the data', async () => {
    const [template] = loadEvent<KinesisStreamEvent>('kinesis-order-paid-batch.json').Records as [
      KinesisStreamRecord,
    ]
    let runs = 0
    const logger = recordingLogger()
    const handler = idempotentKinesisHandler(
      async () => {
        runs++
      },
      { store: new MemoryStore(), logger },
    )
    const record = withData(template, 'card=4242 4242!', 1)

    expect(await handler({ Records: [record] }, context)).toEqual({
      batchItemFailures: [{ itemIdentifier: record.kinesis.sequenceNumber }],
    })
    expect(runs).toBe(0)
    expect(logger.lines[0]?.details).toMatchObject({ outcome: 'invalid-data', eventID: record.eventID })
    expect(JSON.stringify(logger.lines)).not.toContain('4242')
  })

  it('replays a redelivery: the arrival time is not part of the fingerprint', async () => {
    const event = loadEvent<KinesisStreamEvent>('kinesis-order-paid-batch.json')
    let runs = 0
    const handler = idempotentKinesisHandler(
      async () => {
        runs++
      },
      { store: new MemoryStore(), logger: false },
    )
    await handler(event, context)
    const later = {
      Records: event.Records.map((record) => ({
        ...record,
        kinesis: {
          ...record.kinesis,
          approximateArrivalTimestamp: record.kinesis.approximateArrivalTimestamp + 60,
        },
      })),
    }
    expect(await handler(later, context)).toEqual({ batchItemFailures: [] })
    expect(runs).toBe(3)
  })

  it('refuses an event that is not a Kinesis event, and invalid options, naming what is wrong', async () => {
    const handler = idempotentKinesisHandler(async () => {}, { store: new MemoryStore(), logger: false })
    await expect(handler({ detail: {} } as never, context)).rejects.toThrow(
      'expects a Kinesis event with a Records array, got an object with keys detail',
    )
    await expect(handler({ Records: [{ eventID: 'x' }] } as never, context)).rejects.toBeInstanceOf(
      IdempotencyKeyInvalidError,
    )
    expect(() =>
      idempotentKinesisHandler(async () => {}, { store: new MemoryStore(), concurrency: 0 }),
    ).toThrow('option "concurrency" must be a positive integer, got 0')
    expect(() => idempotentKinesisHandler('x' as never, { store: new MemoryStore() })).toThrow(
      IdempotencyConfigError,
    )
  })
})

describe('idempotentDynamoDBStreamHandler', () => {
  interface Order {
    orderId: string
    quantity: number
    status?: string
  }

  it('hands over the change with its images unmarshalled, and skips nothing', async () => {
    const event = loadEvent<DynamoDBStreamEvent>('dynamodb-stream-orders-batch.json')
    const changes: DynamoDBStreamChange<Order>[] = []
    const handler = idempotentDynamoDBStreamHandler<Order>(
      async (change) => {
        changes.push(change)
      },
      { store: new MemoryStore(), logger: false },
    )

    expect(await handler(event, context)).toEqual({ batchItemFailures: [] })
    // Items run concurrently; the changes of one item in order.
    const ofItem = (orderId: string) =>
      changes.filter((change) => change.keys.orderId === orderId).map((change) => change.eventName)
    expect(ofItem('ord_4001')).toEqual(['INSERT', 'MODIFY'])
    expect(ofItem('ord_4002')).toEqual(['INSERT'])
    expect(ofItem('ord_4003')).toEqual(['INSERT'])
    expect(changes.find((change) => change.eventName === 'MODIFY')?.newImage).toMatchObject({
      orderId: 'ord_4001',
      quantity: 2,
      status: 'SHIPPED',
    })
  })

  it('fails a record that cannot be unmarshalled by its sequence number; other items go on', async () => {
    const event = loadEvent<DynamoDBStreamEvent>('dynamodb-stream-poison-batch.json')
    const runs: unknown[] = []
    const logger = recordingLogger()
    const handler = idempotentDynamoDBStreamHandler<Order>(
      async (change) => {
        runs.push(change.keys.orderId)
      },
      { store: new MemoryStore(), logger },
    )

    const response = await handler(event, context)

    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: event.Records[1]?.dynamodb?.SequenceNumber }],
    })
    expect(runs).toEqual(['ord_4101', 'ord_4103'])
    expect(logger.lines[0]?.details).toMatchObject({
      outcome: 'invalid-image',
      eventID: event.Records[1]?.eventID,
    })
    expect(JSON.stringify(logger.lines)).not.toContain('12345678901234567890')
  })

  it('replays a redelivery: creation time and size are not part of the fingerprint', async () => {
    const event = loadEvent<DynamoDBStreamEvent>('dynamodb-stream-orders-batch.json')
    let runs = 0
    const handler = idempotentDynamoDBStreamHandler(
      async () => {
        runs++
      },
      { store: new MemoryStore(), logger: false },
    )
    await handler(event, context)
    const again = {
      Records: event.Records.map((record) => ({
        ...record,
        dynamodb: { ...record.dynamodb, ApproximateCreationDateTime: 1, SizeBytes: 1 },
      })),
    }
    expect(await handler(again, context)).toEqual({ batchItemFailures: [] })
    expect(runs).toBe(4)
  })

  it('refuses an event that is not a DynamoDB Streams event, naming its shape', async () => {
    const handler = idempotentDynamoDBStreamHandler(async () => {}, {
      store: new MemoryStore(),
      logger: false,
    })
    await expect(handler({ Records: [{ eventID: 'x' }] } as never, context)).rejects.toThrow(
      'DynamoDB Streams record 0 has no eventID or dynamodb.SequenceNumber, got an object with keys eventID',
    )
  })
})

describe('idempotentKafkaHandler', () => {
  it('decodes value, key and headers of an MSK event, signed header bytes included', async () => {
    const event = loadEvent<KafkaEvent>('kafka-msk-two-partitions.json')
    const [first] = event.records['order-events-0'] ?? []
    if (first === undefined) throw new Error('fixture has no record')
    first.headers.push({ note: [...Buffer.from('café')].map((byte) => (byte > 127 ? byte - 256 : byte)) })
    const messages: KafkaMessage[] = []
    const handler = idempotentKafkaHandler(
      async (message) => {
        messages.push(message)
      },
      { store: new MemoryStore(), logger: false },
    )

    expect(await handler(event, context)).toEqual({ batchItemFailures: [] })
    expect(messages).toHaveLength(6)
    expect(messages[0]).toMatchObject({
      value: { type: 'order_paid', orderId: 'ord_3041' },
      key: 'cus_F41',
      headers: { eventType: 'order_paid', note: 'café', traceparent: expect.stringMatching(/^00-/) },
    })
  })

  it('runs a self-managed Kafka event and hands over a tombstone as a null value', async () => {
    const event = loadEvent<KafkaEvent>('kafka-self-managed-batch.json')
    const [, second] = event.records['order-events-2'] ?? []
    if (second === undefined) throw new Error('fixture has no second record')
    ;(second as { value: string | null }).value = null
    const values: unknown[] = []
    const handler = idempotentKafkaHandler(
      async (message) => {
        values.push(message.value)
      },
      { store: new MemoryStore(), logger: false },
    )
    expect(await handler(event, context)).toEqual({ batchItemFailures: [] })
    expect(values).toEqual([expect.objectContaining({ orderId: 'ord_3061' }), null])
  })

  it('reports a poison record as { partition, offset } and stops only its partition', async () => {
    const event = loadEvent<KafkaEvent>('kafka-poison-batch.json')
    const runs: string[] = []
    const handler = idempotentKafkaHandler<unknown>(
      async (message) => {
        if (typeof message.value !== 'object') throw new TypeError('not an order_paid event')
        runs.push((message.value as { orderId: string }).orderId)
      },
      { store: new MemoryStore(), logger: false },
    )

    const response = await handler(event, context)

    expect(response).toEqual({
      batchItemFailures: [{ itemIdentifier: { partition: 'order-events-0', offset: 301 } }],
    })
    expect(runs.sort()).toEqual(['ord_3071', 'ord_3074'])
  })

  it('keys records by topic, partition and offset: the same offset in two partitions is two records', async () => {
    const event = loadEvent<KafkaEvent>('kafka-msk-two-partitions.json')
    const [a] = event.records['order-events-0'] ?? []
    const [b] = event.records['order-events-1'] ?? []
    if (a === undefined || b === undefined) throw new Error('fixture has no records')
    b.offset = a.offset
    b.value = a.value
    let runs = 0
    const handler = idempotentKafkaHandler(
      async () => {
        runs++
      },
      { store: new MemoryStore(), logger: false },
    )
    const twoRecords = { ...event, records: { 'order-events-0': [a], 'order-events-1': [b] } }
    expect(await handler(twoRecords, context)).toEqual({ batchItemFailures: [] })
    expect(runs).toBe(2)
    // Redelivered with new tracing headers: the headers are not part of the fingerprint.
    a.headers = [{ traceparent: [...Buffer.from('00-ffff')] }]
    expect(await handler(twoRecords, context)).toEqual({ batchItemFailures: [] })
    expect(runs).toBe(2)
  })

  it('refuses an event without a records map, naming its shape', async () => {
    const handler = idempotentKafkaHandler(async () => {}, { store: new MemoryStore(), logger: false })
    await expect(handler({ Records: [] } as never, context)).rejects.toThrow(
      'expects a Kafka event with a records map, got an object with keys Records',
    )
    await expect(
      handler({ records: { 'orders-0': [{ topic: 'orders' }] } } as never, context),
    ).rejects.toThrow('Kafka record 0 of "orders-0" has no topic, partition or offset')
  })
})
