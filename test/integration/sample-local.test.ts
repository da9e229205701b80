import { randomUUID } from 'node:crypto'
import { SendMessageCommand } from '@aws-sdk/client-sqs'
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest'
import { isEmfLine } from '../../infra/local/emf-lines.js'
import { type LocalSample, startLocalSample } from '../../infra/local/local-sample.js'

// The local SQS server (fauxqs) loads node:sqlite, and Node warns that it is experimental when it is
// first imported: captured before the imports, and asserted below.
const warnings = await vi.hoisted(async () =>
  (await import('../helpers/captured-output.js')).captureWarnings(),
)

// The local loop end to end: HTTP requests through the local API Gateway, the real handlers,
// DynamoDB Local, fauxqs, and the poller that delivers every batch twice.
let sample: LocalSample
const lines: string[] = []
// The functions' output lines (they run in sandboxes, whose lines reach the local runner).
const functionLines: string[] = []
const emfDocuments = () =>
  functionLines.filter(isEmfLine).map((line) => JSON.parse(line) as Record<string, unknown>)

beforeAll(async () => {
  sample = await startLocalSample({
    port: 0,
    dynamodbEndpoint: inject('dynamoEndpoint'),
    tablePrefix: `sample-${randomUUID().slice(0, 8)}`,
    duplicateDeliveries: true,
    visibilityTimeoutSeconds: 1,
    maxReceiveCount: 3,
    providerLatencyMs: 50,
    log: (line) => lines.push(line),
    functionOutput: (line) => functionLines.push(line),
  })
})

afterAll(async () => {
  await sample?.stop()
  vi.restoreAllMocks()
})

// Each test starts from a settled queue: an order_paid left in flight by the previous test would
// otherwise change the stock between this test's "before" and "after".
beforeEach(async () => {
  await sample.eventSource.settled()
})

const pay = (key: string | undefined, payment: Record<string, unknown>) =>
  fetch(`${sample.url}/payments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(key === undefined ? {} : { 'idempotency-key': key }) },
    body: JSON.stringify(payment),
  })

const coffee = (customer: string, quantity = 1) => ({
  amount: 4200 * quantity,
  currency: 'EUR',
  customer,
  sku: 'sku_coffee',
  quantity,
})

// The outcomes a function reported through onEvent after the timeline entry `sinceSeq`, oldest first.
const outcomesSince = async (sinceSeq: number, functionName: string) =>
  (await sample.state()).timeline
    .filter((entry) => entry.seq > sinceSeq && entry.functionName === functionName)
    .reverse()

const lastSeq = async () => (await sample.state()).timeline[0]?.seq ?? 0

const ordersFor = async (paymentId: string) =>
  (await sample.state()).orders.filter((order) => order.paymentId === paymentId)

describe('the local sample', () => {
  it('charges a retried payment once and replays the first response with Idempotent-Replayed', async () => {
    const before = await sample.state()
    const seq = await lastSeq()
    const first = await pay('order-1001', coffee('cus_retry'))
    const firstBody = await first.text()
    const metricsBefore = emfDocuments().length
    const retry = await pay('order-1001', coffee('cus_retry'))

    expect(first.status).toBe(201)
    expect(first.headers.get('idempotent-replayed')).toBeNull()
    expect(retry.status).toBe(201)
    expect(retry.headers.get('idempotent-replayed')).toBe('true')
    expect(await retry.text()).toBe(firstBody)

    const { paymentId } = JSON.parse(firstBody) as { paymentId: string }
    const after = await sample.state()
    expect(after.payments.filter((payment) => payment.paymentId === paymentId)).toHaveLength(1)
    expect(after.payments).toHaveLength(before.payments.length + 1)
    expect(after.providerCharges).toBe(before.providerCharges + 1)
    // The first request ran the work; the retry was answered from the record.
    const outcomes = (await outcomesSince(seq, 'Payment')).map((entry) => entry.outcome)
    expect(outcomes).toEqual(['claimed', 'completed', 'replayed'])
    expect(lines).toContain(
      '[api] POST /payments (Idempotency-Key order-1001) -> 201 replayed (the handler did not run)',
    )
    // The payment function's metric line for the retry, as CloudWatch would count it.
    expect(emfDocuments().slice(metricsBefore)).toContainEqual(
      expect.objectContaining({ FunctionName: 'Payment', IdempotencyReplayed: 1, outcome: 'replayed' }),
    )
  })

  it('creates one order and takes the stock once when order_paid is delivered twice', async () => {
    const before = await sample.state()
    const invocations = sample.eventSource.invocations
    const seq = await lastSeq()
    const response = await pay('order-2002', coffee('cus_twice', 2))
    const { paymentId } = (await response.json()) as { paymentId: string }
    await sample.eventSource.settled()

    expect(sample.eventSource.invocations - invocations).toBeGreaterThanOrEqual(2)
    expect(await ordersFor(paymentId)).toHaveLength(1)
    expect((await sample.state()).stock.sku_coffee).toBe((before.stock.sku_coffee ?? 0) - 2)
    // One run committed the order, the stock and the record in one transaction; the duplicate replayed.
    const outcomes = await outcomesSince(seq, 'OrderConsumer')
    expect(outcomes.filter((entry) => entry.outcome === 'completed')).toEqual([
      expect.objectContaining({ transactional: true }),
    ])
    expect(outcomes.filter((entry) => entry.outcome === 'replayed').length).toBeGreaterThanOrEqual(1)
    expect(new Set(outcomes.map((entry) => entry.id)).size).toBe(1)
  })

  it('creates one order when the producer sends the same order_paid event as two messages', async () => {
    const before = await sample.state()
    const paymentId = `pay_${randomUUID().slice(0, 8)}`
    const body = JSON.stringify({
      type: 'order_paid',
      eventId: `evt_${paymentId}`,
      paymentId,
      customer: 'cus_producer',
      sku: 'sku_tea',
      quantity: 3,
      amount: 1800,
      currency: 'EUR',
      paidAt: new Date().toISOString(),
    })
    const sent = await Promise.all(
      [1, 2].map(() =>
        sample.sqs.client.send(new SendMessageCommand({ QueueUrl: sample.sqs.queueUrl, MessageBody: body })),
      ),
    )
    expect(new Set(sent.map((message) => message.MessageId)).size).toBe(2)
    await sample.eventSource.settled()

    expect(await ordersFor(paymentId)).toHaveLength(1)
    expect((await sample.state()).stock.sku_tea).toBe((before.stock.sku_tea ?? 0) - 3)
  })

  it('runs one of several concurrent requests with the same key and answers the others 409 or with the replay', async () => {
    const before = await sample.state()
    const responses = await Promise.all(
      Array.from({ length: 5 }, () => pay('order-3003', coffee('cus_race'))),
    )

    const ran = responses.filter(
      (response) => response.status === 201 && !response.headers.has('idempotent-replayed'),
    )
    expect(ran).toHaveLength(1)
    for (const response of responses) {
      expect([201, 409]).toContain(response.status)
      if (response.status === 409) {
        expect(response.headers.get('content-type')).toContain('application/problem+json')
        expect(response.headers.get('retry-after')).not.toBeNull()
      }
    }
    const after = await sample.state()
    expect(after.payments).toHaveLength(before.payments.length + 1)
    expect(after.providerCharges).toBe(before.providerCharges + 1)
  })

  it('answers 422 to a key reused with another amount and 400 to a request without a key', async () => {
    const charges = (await sample.state()).providerCharges
    expect((await pay('order-4004', coffee('cus_reuse', 1))).status).toBe(201)

    const reused = await pay('order-4004', coffee('cus_reuse', 2))
    expect(reused.status).toBe(422)
    expect(reused.headers.get('content-type')).toContain('application/problem+json')

    const missing = await pay(undefined, coffee('cus_reuse'))
    expect(missing.status).toBe(400)
    expect(((await missing.json()) as { status: number }).status).toBe(400)

    expect((await sample.state()).providerCharges).toBe(charges + 1)
  })

  it('records a shortage as the outcome of the event: no order, no stock taken, not retried', async () => {
    const before = await sample.state()
    const seq = await lastSeq()
    const paymentId = `pay_${randomUUID().slice(0, 8)}`
    await sample.sqs.client.send(
      new SendMessageCommand({
        QueueUrl: sample.sqs.queueUrl,
        MessageBody: orderPaid(paymentId, 'sku_coffee', 100),
      }),
    )
    await sample.eventSource.settled()

    const after = await sample.state()
    expect(await ordersFor(paymentId)).toHaveLength(0)
    expect(after.stock).toEqual(before.stock)
    expect(after.deadLetters).toBe(before.deadLetters)
    // Stored as the event's outcome: the duplicate delivery replays it instead of trying again.
    const outcomes = (await outcomesSince(seq, 'OrderConsumer')).map((entry) => entry.outcome)
    expect(outcomes).toEqual(['claimed', 'completed', 'replayed'])
  })

  it('delivers a failing message again and moves it to the dead-letter queue after the last try', async () => {
    const before = await sample.state()
    const seq = await lastSeq()
    const paymentId = `pay_${randomUUID().slice(0, 8)}`
    // quantity 0: the consumer refuses the event on every delivery.
    await sample.sqs.client.send(
      new SendMessageCommand({
        QueueUrl: sample.sqs.queueUrl,
        MessageBody: orderPaid(paymentId, 'sku_coffee', 0),
      }),
    )
    await sample.eventSource.settled()

    const after = await sample.state()
    expect(after.deadLetters).toBe(before.deadLetters + 1)
    expect(await ordersFor(paymentId)).toHaveLength(0)
    expect(after.stock).toEqual(before.stock)
    // Each delivery (three receives, each delivered twice) claimed the key and released it.
    const outcomes = (await outcomesSince(seq, 'OrderConsumer')).map((entry) => entry.outcome)
    expect(outcomes.filter((outcome) => outcome === 'released').length).toBeGreaterThanOrEqual(3)
    expect(outcomes).not.toContain('completed')
  })

  it("warned only that the local SQS server's node:sqlite is experimental", () => {
    expect(
      warnings.list.filter((warning) => !/^SQLite is an experimental feature/.test(warning.message)),
    ).toEqual([])
  })
})

const orderPaid = (paymentId: string, sku: string, quantity: number) =>
  JSON.stringify({
    type: 'order_paid',
    eventId: `evt_${paymentId}`,
    paymentId,
    customer: 'cus_sample',
    sku,
    quantity,
    amount: 100,
    currency: 'EUR',
    paidAt: new Date().toISOString(),
  })
