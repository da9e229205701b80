import { randomUUID } from 'node:crypto'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams'
import { unmarshall } from '@aws-sdk/util-dynamodb'
import type { DynamoDBStreamEvent } from 'aws-lambda'
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import type { PaymentRow } from '../../infra/functions/payment-record.js'
import { localClientConfig } from '../../infra/local/dynamodb-local.js'
import { enableStream, startDynamoDBStreamSource } from '../../infra/local/dynamodb-stream-source.js'
import { type LocalSample, startLocalSample } from '../../infra/local/local-sample.js'

// The outbox of the local sample: the payment row carries its order_paid event, the payments
// table's stream (DynamoDB Local's own) delivers it to the relay, every batch twice, and the
// relay sends it to the queue (fauxqs), from which the order consumer creates the order.
let sample: LocalSample
let outbox: typeof import('../../infra/functions/payment-outbox.js')
/** The eventId of every SendMessage the relay's client completed. */
const sent: string[] = []
/** The next send fails, as a network error would; the sends that failed, by eventId. */
const faults = { failNext: false, failed: [] as string[] }

beforeAll(async () => {
  vi.spyOn(console, 'info').mockImplementation(() => {})
  vi.spyOn(console, 'warn').mockImplementation(() => {})
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
  sample = await startLocalSample({
    port: 0,
    dynamodbEndpoint: inject('dynamoEndpoint'),
    tablePrefix: `outbox-${randomUUID().slice(0, 8)}`,
    duplicateDeliveries: true,
    visibilityTimeoutSeconds: 1,
    providerLatencyMs: 0,
    log: () => {},
  })
  // The module the local sample loaded: the same instance, so its client is the one the relay uses.
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

describe('the payment outbox', () => {
  it('sends the payment row event to the queue once when every batch comes twice', async () => {
    await sample.eventSource.settled()
    const invocations = sample.outboxSource.invocations
    const { paymentId, eventId } = await pay('cus_outbox')
    await sample.eventSource.settled()
    expect(sent.filter((id) => id === eventId)).toHaveLength(1)
    expect(sample.outboxSource.invocations - invocations).toBeGreaterThanOrEqual(2)
    const orders = (await sample.state()).orders.filter((order) => order.paymentId === paymentId)
    expect(orders).toHaveLength(1)
  })

  it('sends it once after the first send failed: the record comes back and the released key lets it run', async () => {
    await sample.eventSource.settled()
    faults.failNext = true
    const { paymentId, eventId } = await pay('cus_outbox_retry')
    await sample.eventSource.settled()
    expect(faults.failed).toContain(eventId)
    expect(sent.filter((id) => id === eventId)).toHaveLength(1)
    expect(sample.outboxSource.failedRecords).toHaveLength(0)
    const orders = (await sample.state()).orders.filter((order) => order.paymentId === paymentId)
    expect(orders).toHaveLength(1)
  })

  it('(control) sends twice without the idempotent relay when a batch comes twice', async () => {
    const { eventId } = await pay('cus_control')
    await sample.eventSource.settled()
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
