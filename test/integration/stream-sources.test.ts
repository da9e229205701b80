import { marshall } from '@aws-sdk/util-dynamodb'
import middy from '@middy/core'
import type {
  Context,
  DynamoDBRecord,
  DynamoDBStreamEvent,
  KinesisStreamEvent,
  KinesisStreamRecord,
} from 'aws-lambda'
import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import {
  DynamoDBStore,
  type IdempotencyStore,
  idempotentDynamoDBStreamHandler,
  idempotentKafkaHandler,
  idempotentKinesisHandler,
  type KafkaEvent,
  type KafkaRecord,
} from '../../src/index.js'
import { countingClient, createIdempotencyTable, scanTable } from '../helpers/dynamodb.js'
import { loadEvent } from '../helpers/events.js'
import { delay, gate, lambdaContext } from '../helpers/lambda.js'

// The same guarantees, proven for each ordered source against DynamoDB Local: a source adapter
// builds real-shaped events out of sequences (Kinesis shards, DynamoDB items, Kafka partitions)
// of order_paid events and wraps the work in the source's handler.

const { client } = countingClient()
afterAll(() => client.destroy())

interface OrderPaid {
  type: string
  eventId: string
  orderId: string
}

type Work = (order: OrderPaid) => Promise<void>
type Failures = { batchItemFailures: { itemIdentifier: unknown }[] }
type Handler<TEvent> = (event: TEvent, context: Context) => Promise<Failures>

interface SourceCase<TEvent> {
  name: string
  /** What a sequence is for this source, in test names. */
  sequence: string
  /** An event whose records come from `sequences`, interleaved as Lambda would hand them over. */
  batch(sequences: OrderPaid[][]): TEvent
  handler(
    work: Work,
    options: { store: IdempotencyStore; concurrency?: number; key?: 'eventId' },
  ): Handler<TEvent>
  /** The batchItemFailures identifier of the record that carries `eventId`. */
  idOf(event: TEvent, eventId: string): unknown
}

const order = (eventId: string): OrderPaid => ({ type: 'order_paid', eventId, orderId: `ord_${eventId}` })

/** Records of each sequence in order, the sequences interleaved: a0 b0 a1 b1 a2... */
const interleave = <T>(sequences: T[][]): { item: T; sequence: number; position: number }[] => {
  const longest = Math.max(0, ...sequences.map((sequence) => sequence.length))
  return Array.from({ length: longest }, (_, position) =>
    sequences.flatMap((sequence, index) =>
      position < sequence.length ? [{ item: sequence[position] as T, sequence: index, position }] : [],
    ),
  ).flat()
}

const kinesis: SourceCase<KinesisStreamEvent> = {
  name: 'idempotentKinesisHandler',
  sequence: 'shard',
  batch: (sequences) => {
    const [template] = loadEvent<KinesisStreamEvent>('kinesis-order-paid-batch.json').Records as [
      KinesisStreamRecord,
    ]
    return {
      Records: interleave(sequences).map(({ item, sequence, position }) => {
        const sequenceNumber = `4965983527144951869${sequence}${String(position).padStart(30, '0')}`
        return {
          ...template,
          eventID: `shardId-00000000000${sequence}:${sequenceNumber}`,
          kinesis: {
            ...template.kinesis,
            sequenceNumber,
            partitionKey: item.orderId,
            data: Buffer.from(JSON.stringify(item)).toString('base64'),
          },
        }
      }),
    }
  },
  handler: (work, { key, ...options }) =>
    idempotentKinesisHandler<OrderPaid>(work, {
      ...options,
      ...(key === undefined ? {} : { key: (data) => data.eventId }),
      logger: false,
    }),
  idOf: (event, eventId) =>
    event.Records.find(
      (record) => JSON.parse(Buffer.from(record.kinesis.data, 'base64').toString()).eventId === eventId,
    )?.kinesis.sequenceNumber,
}

const dynamodbStreams: SourceCase<DynamoDBStreamEvent> = {
  name: 'idempotentDynamoDBStreamHandler',
  sequence: 'item',
  batch: (sequences) => {
    const [template] = loadEvent<DynamoDBStreamEvent>('dynamodb-stream-orders-batch.json').Records as [
      DynamoDBRecord,
    ]
    return {
      Records: interleave(sequences).map(({ item, sequence, position }, index) => ({
        ...template,
        eventID: `${sequence}${position}${'0'.repeat(30)}`,
        eventName: position === 0 ? 'INSERT' : 'MODIFY',
        dynamodb: {
          ...template.dynamodb,
          // One item per sequence: its records are the item's changes, in order.
          Keys: marshall({ orderId: `item-${sequence}` }) as never,
          NewImage: marshall({ ...item, orderId: `item-${sequence}` }) as never,
          SequenceNumber: String(5550000000000000000000000n + BigInt(index)),
        },
      })),
    }
  },
  handler: (work, { key, ...options }) =>
    idempotentDynamoDBStreamHandler<OrderPaid>((change) => work(change.newImage as OrderPaid), {
      ...options,
      // The same event under two items: the business key and the image's event are what match.
      ...(key === undefined
        ? {}
        : { key: (change) => change.newImage?.eventId, fingerprint: (change) => change.newImage?.eventId }),
      logger: false,
    }),
  idOf: (event, eventId) =>
    event.Records.find((record) => record.dynamodb?.NewImage?.eventId?.S === eventId)?.dynamodb
      ?.SequenceNumber,
}

const kafka: SourceCase<KafkaEvent> = {
  name: 'idempotentKafkaHandler',
  sequence: 'partition',
  batch: (sequences) => {
    const fixture = loadEvent<KafkaEvent>('kafka-msk-two-partitions.json')
    const [template] = fixture.records['order-events-0'] as [KafkaRecord]
    const records: KafkaEvent['records'] = {}
    sequences.forEach((sequence, partition) => {
      records[`order-events-${partition}`] = sequence.map((item, position) => ({
        ...template,
        partition,
        offset: 1000 + position,
        key: Buffer.from(item.orderId).toString('base64'),
        value: Buffer.from(JSON.stringify(item)).toString('base64'),
      }))
    })
    return { ...fixture, records } as KafkaEvent
  },
  handler: (work, { key, ...options }) =>
    idempotentKafkaHandler<OrderPaid>((message) => work(message.value), {
      ...options,
      ...(key === undefined ? {} : { key: (message) => message.value.eventId }),
      logger: false,
    }),
  idOf: (event, eventId) => {
    for (const [partition, records] of Object.entries(event.records)) {
      const record = records.find(
        (candidate) => JSON.parse(Buffer.from(candidate.value, 'base64').toString()).eventId === eventId,
      )
      if (record !== undefined) return { partition, offset: record.offset }
    }
    return undefined
  },
}

const context = () => lambdaContext({ functionName: 'order-stream-consumer' })

describe.each([
  kinesis as SourceCase<unknown>,
  dynamodbStreams as SourceCase<unknown>,
  kafka as SourceCase<unknown>,
])('$name on DynamoDB Local', (source) => {
  let store: DynamoDBStore
  let tableName: string
  beforeEach(async () => {
    tableName = await createIdempotencyTable(client)
    store = new DynamoDBStore({ client, tableName })
  })

  it(`replays what succeeded and re-runs only from the failed record when Lambda delivers the batch again`, async () => {
    const event = source.batch([
      [order('a1'), order('a2'), order('a3')],
      [order('b1'), order('b2')],
    ])
    const steps: string[] = []
    let ledgerDown = true
    const handler = source.handler(
      async (paid) => {
        steps.push(`start ${paid.eventId}`)
        await delay(5)
        if (ledgerDown && paid.eventId === 'a2') throw new Error('ledger unavailable')
        steps.push(`end ${paid.eventId}`)
      },
      { store },
    )

    const first = await handler(event, context())

    // Only the failed record is reported: Lambda retries its sequence from there.
    expect(first).toEqual({ batchItemFailures: [{ itemIdentifier: source.idOf(event, 'a2') }] })
    expect(steps.filter((step) => / a\d$/.test(step))).toEqual(['start a1', 'end a1', 'start a2'])
    expect(steps.filter((step) => / b\d$/.test(step))).toEqual(['start b1', 'end b1', 'start b2', 'end b2'])
    // The failed record's key was released, the others are completed.
    const items = await scanTable(client, tableName)
    expect(items.map((item) => item.status?.S)).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED'])

    ledgerDown = false
    steps.length = 0
    expect(await handler(event, context())).toEqual({ batchItemFailures: [] })
    expect(steps).toEqual(['start a2', 'end a2', 'start a3', 'end a3'])

    steps.length = 0
    expect(await handler(event, context())).toEqual({ batchItemFailures: [] })
    expect(steps).toEqual([])
  })

  it(`fails the records the store could not claim, and stops their ${source.sequence} there`, async () => {
    const event = source.batch([[order('c1'), order('c2')], [order('d1')]])
    let claims = 0
    const down: IdempotencyStore = {
      maxResultBytes: store.maxResultBytes,
      claim: async (request) => {
        // Only the second record of the first sequence meets the outage.
        if ((await store.get(request.id)) === undefined && claims++ === 1) {
          throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' })
        }
        return store.claim(request)
      },
      complete: (...args) => store.complete(...args),
      release: (...args) => store.release(...args),
      get: (id) => store.get(id),
    }
    const runs: string[] = []
    const handler = source.handler(
      async (paid) => {
        runs.push(paid.eventId)
      },
      { store: down, concurrency: 1 },
    )

    const response = await handler(event, context())

    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: source.idOf(event, 'c2') }] })
    expect(runs).toEqual(['c1', 'd1'])
  })

  it('runs an event the producer sent twice in one batch once, and counts both records as successes', async () => {
    const event = source.batch([[order('e1'), order('e2')], [order('e1')]])
    const runs: string[] = []
    const handler = source.handler(
      async (paid) => {
        runs.push(paid.eventId)
        await delay(30)
      },
      { store, key: 'eventId' },
    )

    expect(await handler(event, context())).toEqual({ batchItemFailures: [] })
    expect(runs.sort()).toEqual(['e1', 'e2'])
  })

  it(`runs ${source.sequence}s concurrently up to the bound, and the records of one ${source.sequence} one at a time`, async () => {
    const bound = 3
    const sequences = Array.from({ length: 5 }, (_, sequence) =>
      Array.from({ length: 3 }, (_, position) => order(`s${sequence}-${position}`)),
    )
    const full = gate()
    let active = 0
    let maxActive = 0
    const activeInSequence = new Map<string, number>()
    let maxInSequence = 0
    const handler = source.handler(
      async (paid) => {
        const sequence = paid.eventId.split('-')[0] as string
        active++
        activeInSequence.set(sequence, (activeInSequence.get(sequence) ?? 0) + 1)
        maxActive = Math.max(maxActive, active)
        maxInSequence = Math.max(maxInSequence, activeInSequence.get(sequence) ?? 0)
        if (active === bound) full.open()
        // The first records wait until `bound` run at once: one-by-one processing would wait the
        // fallback out and never reach the bound.
        await Promise.race([full.opened, delay(2_000)])
        await delay(2)
        activeInSequence.set(sequence, (activeInSequence.get(sequence) ?? 0) - 1)
        active--
      },
      { store, concurrency: bound },
    )

    expect(await handler(source.batch(sequences), context())).toEqual({ batchItemFailures: [] })
    expect(maxActive).toBe(bound)
    expect(maxInSequence).toBe(1)
    expect(await scanTable(client, tableName)).toHaveLength(15)
  })

  it('keeps every guarantee when middy() wraps the handler', async () => {
    const event = source.batch([[order('m1'), order('m2')]])
    let fail = true
    const runs: string[] = []
    const handler = middy(
      source.handler(
        async (paid) => {
          runs.push(paid.eventId)
          if (fail && paid.eventId === 'm1') throw new Error('downstream unavailable')
        },
        { store },
      ),
    )

    expect(await handler(event, context())).toEqual({
      batchItemFailures: [{ itemIdentifier: source.idOf(event, 'm1') }],
    })
    fail = false
    expect(await handler(event, context())).toEqual({ batchItemFailures: [] })
    expect(runs).toEqual(['m1', 'm1', 'm2'])
  })
})
