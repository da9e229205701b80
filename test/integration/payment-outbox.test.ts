import { randomUUID } from 'node:crypto'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams'
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb'
import type { DynamoDBRecord, DynamoDBStreamEvent } from 'aws-lambda'
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import { orderPaid, type PaymentRow } from '../../infra/functions/payment-record.js'
import { localClientConfig } from '../../infra/local/dynamodb-local.js'
import { enableStream, startDynamoDBStreamSource } from '../../infra/local/dynamodb-stream-source.js'
import { type LocalSample, startLocalSample } from '../../infra/local/local-sample.js'
import { type CapturedConsole, captureConsole, logEntries } from '../helpers/captured-output.js'
import { loadEvent } from '../helpers/events.js'
import { lambdaContext } from '../helpers/lambda.js'

// The outbox of the local sample: the payment row carries its order_paid event, the payments
// table's stream (DynamoDB Local's own) delivers it to the relay, every batch twice, and the
// relay sends it to the queue (fauxqs), from which the order consumer creates the order. The
// sample's relay runs in its sandboxes; the fault tests call the same module in this process, on
// the same tables and queue, so that a send can be failed at the SDK boundary.
let sample: LocalSample
let outbox: typeof import('../../infra/functions/payment-outbox.js')
/** What the sample's functions printed (their lines reach the runner). */
const functionLines: string[] = []
/** The eventId of every SendMessage the in-process relay's client completed. */
const sent: string[] = []
/** The next send fails, as a network error would; the sends that failed, by eventId. */
const faults = { failNext: false, failed: [] as string[] }
/** The in-process relay's warnings (a failed record is one). */
let warnings: CapturedConsole

beforeAll(async () => {
  sample = await startLocalSample({
    port: 0,
    dynamodbEndpoint: inject('dynamoEndpoint'),
    tablePrefix: `outbox-${randomUUID().slice(0, 8)}`,
    duplicateDeliveries: true,
    visibilityTimeoutSeconds: 1,
    providerLatencyMs: 0,
    log: () => {},
    functionOutput: (line) => functionLines.push(line),
  })
  // The relay module in this process, configured as the sample configures its sandboxes.
  vi.stubEnv('AWS_REGION', 'us-east-1')
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'local')
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'local')
  vi.stubEnv('DYNAMODB_ENDPOINT', sample.dynamodbEndpoint)
  vi.stubEnv('SQS_ENDPOINT', sample.sqs.endpoint)
  vi.stubEnv('IDEMPOTENCY_TABLE', sample.tables.idempotencyTable)
  vi.stubEnv('ORDER_EVENTS_QUEUE_URL', sample.sqs.queueUrl)
  vi.spyOn(console, 'info').mockImplementation(() => {})
  warnings = captureConsole('warn')
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
  outbox = await import('../../infra/functions/payment-outbox.js')
  outbox.outboxSqs.middlewareStack.add(
    (next) => async (args) => {
      const eventId = (
        JSON.parse(String((args.input as { MessageBody?: string }).MessageBody)) as { eventId: string }
      ).eventId
      if (faults.failNext) {
        faults.failNext = false
        faults.failed.push(eventId)
        throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' })
      }
      const result = await next(args)
      sent.push(eventId)
      return result
    },
    { step: 'initialize', name: 'watchSends' },
  )
})

afterAll(async () => {
  await sample?.stop()
  vi.restoreAllMocks()
  vi.unstubAllEnvs()
})

const pay = async (customer: string) => {
  const response = await fetch(`${sample.url}/payments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
    body: JSON.stringify({ amount: 1800, currency: 'EUR', customer, sku: 'sku_tea', quantity: 1 }),
  })
  expect(response.status).toBe(201)
  const { paymentId } = (await response.json()) as { paymentId: string }
  return { paymentId, eventId: `evt_${paymentId.slice('pay_'.length)}` }
}

/** The sandboxed relay's log lines for one event: one per message it sent. */
const sentBySample = (eventId: string) =>
  logEntries(functionLines).filter((entry) => entry.startsWith('order_paid sent') && entry.includes(eventId))

/** A payments stream record of a new row, as the stream delivers it. */
const newRowRecord = (customer: string): { record: DynamoDBRecord; row: PaymentRow } => {
  const paymentId = `pay_${randomUUID().replaceAll('-', '').slice(0, 24)}`
  const payment = {
    paymentId,
    chargeId: `ch_${randomUUID()}`,
    status: 'succeeded' as const,
    createdAt: new Date().toISOString(),
    amount: 1800,
    currency: 'EUR',
    customer,
    sku: 'sku_tea',
    quantity: 1,
  }
  const row: PaymentRow = { ...payment, orderPaid: orderPaid(payment) }
  const record = loadEvent<DynamoDBRecord>('dynamodb-stream-record.json')
  record.eventID = randomUUID()
  record.dynamodb = {
    ...record.dynamodb,
    Keys: marshall({ paymentId }) as never,
    NewImage: marshall(row, { removeUndefinedValues: true }) as never,
  }
  return { record, row }
}

describe('the payment outbox', () => {
  it('sends the payment row event to the queue once when every batch comes twice', async () => {
    await sample.eventSource.settled()
    const invocations = sample.outboxSource.invocations
    const { paymentId, eventId } = await pay('cus_outbox')
    await sample.eventSource.settled()
    expect(sentBySample(eventId)).toHaveLength(1)
    expect(sample.outboxSource.invocations - invocations).toBeGreaterThanOrEqual(2)
    const orders = (await sample.state()).orders.filter((order) => order.paymentId === paymentId)
    expect(orders).toHaveLength(1)
  })

  it('sends it once after the first send failed: the record comes back and the released key lets it run', async () => {
    const { record, row } = newRowRecord('cus_outbox_retry')
    const { eventId } = row.orderPaid
    const event: DynamoDBStreamEvent = { Records: [record] }
    const context = lambdaContext({ functionName: 'PaymentOutbox' })
    faults.failNext = true
    const failed = await outbox.handler(event, context)
    expect(faults.failed).toContain(eventId)
    expect(failed.batchItemFailures).toEqual([{ itemIdentifier: record.dynamodb?.SequenceNumber }])
    expect(warnings.lines).toContainEqual(expect.stringMatching(/record failed[\s\S]*socket hang up/))
    // The stream delivers the record again, and once more after it was sent.
    expect((await outbox.handler(event, context)).batchItemFailures).toEqual([])
    expect((await outbox.handler(event, context)).batchItemFailures).toEqual([])
    expect(sent.filter((id) => id === eventId)).toHaveLength(1)
    await sample.eventSource.settled()
    const orders = (await sample.state()).orders.filter((order) => order.paymentId === row.paymentId)
    expect(orders).toHaveLength(1)
  })

  it('(control) sends twice without the idempotent relay when a batch comes twice', async () => {
    const { eventId } = await pay('cus_control')
    await sample.eventSource.settled()
    expect(sentBySample(eventId)).toHaveLength(1)
    const before = sent.filter((id) => id === eventId).length
    const streams = new DynamoDBStreamsClient(localClientConfig(sample.dynamodbEndpoint))
    const dynamodb = new DynamoDBClient(localClientConfig(sample.dynamodbEndpoint))
    // A second mapping on the same stream, calling the bare publish step for each record.
    const bare = startDynamoDBStreamSource({
      client: streams,
      streamArn: await enableStream(dynamodb, sample.tables.paymentsTable),
      duplicateDeliveries: true,
      pollIntervalMs: 50,
      log: () => {},
      handler: async (event: DynamoDBStreamEvent) => {
        for (const record of event.Records) {
          const newImage = unmarshall(record.dynamodb?.NewImage as never) as PaymentRow
          if (newImage.orderPaid.eventId !== eventId) continue
          await outbox.publishOrderPaid({ eventName: 'INSERT', keys: {}, newImage })
        }
        return { batchItemFailures: [] }
      },
    })
    await bare.settled()
    await bare.stop()
    streams.destroy()
    dynamodb.destroy()
    expect(sent.filter((id) => id === eventId).length - before).toBe(2)
  })
})
