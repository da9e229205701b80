import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs'
import { DynamoDBDocumentClient, GetCommand, PutCommand, paginateScan } from '@aws-sdk/lib-dynamodb'
import { localClientConfig } from './dynamodb-local.js'
import type { EmfCounts, LoadSample } from './load-sample.js'
import { localSqsClientConfig } from './local-sqs.js'
import { planOrderMessages, sendOrderMessages } from './order-load.js'
import { type PaymentLoadResult, runPaymentLoad } from './payment-load.js'

/** Options of {@link runLoadScenario}. */
export interface LoadScenarioOptions {
  /** Payment requests in all. @default 10_000 */
  requests?: number
  /** Distinct Idempotency-Keys. @default 100 */
  keys?: number
  /** Concurrent HTTP connections. @default 20 */
  connections?: number
  /** order_paid messages sent straight to the queue, duplicates included. @default 1_000 */
  messages?: number
  /** Share of those messages that repeat an event already sent. @default 0.3 */
  duplicateShare?: number
  /** Seeds the key draw and the message order: the same seed, the same run. @default 1 */
  seed?: number
  /** Longest wait for the queue to drain after each phase. @default 300_000 */
  settleTimeoutMs?: number
  /** Longest HTTP phase. @default 600_000 */
  httpTimeoutMs?: number
}

/** One "must" of the run: what was measured against what it has to be. */
export interface LoadCheck {
  label: string
  actual: number
  expected: number
  ok: boolean
}

/** Everything a load run measured. */
export interface LoadScenarioReport {
  options: Required<LoadScenarioOptions>
  pollers: number
  payments: PaymentLoadResult & {
    /** This run's payments in the payments table. */
    stored: number
    /** New charges the simulated provider made during the run. */
    providerCharges: number
    /** Orders the consumer created from the payments' own order_paid messages. */
    orders: number
    /** Units taken from the payments' sku. */
    stockTaken: number
  }
  orders: {
    messages: number
    distinctEvents: number
    duplicates: number
    /** Orders for this phase's events in the orders table. */
    created: number
    /** Distinct event ids among those orders. */
    createdEvents: number
    stockTaken: number
    deadLetters: number
    /** Batches the pollers handed to the consumer, redeliveries included. */
    batches: number
    durationMs: number
  }
  /** The functions' EMF metrics: per function, per metric. */
  metrics: { payments: EmfCounts; orders: EmfCounts }
  checks: LoadCheck[]
}

/**
 * The load run of issue 7 against a started sample: `requests` payments over `keys` keys from
 * `connections` connections through the HTTP API, then `messages` order_paid messages with a share of
 * duplicates straight into the queue, and the checks of "never twice, never lost" on what the tables
 * hold afterwards.
 *
 * @example
 * const report = await runLoadScenario(sample, { requests: 500, keys: 10, connections: 10, messages: 100 })
 * report.checks.every((check) => check.ok)
 */
export const runLoadScenario = async (
  sample: LoadSample,
  scenario: LoadScenarioOptions = {},
): Promise<LoadScenarioReport> => {
  const options: Required<LoadScenarioOptions> = {
    requests: scenario.requests ?? 10_000,
    keys: scenario.keys ?? 100,
    connections: scenario.connections ?? 20,
    messages: scenario.messages ?? 1_000,
    duplicateShare: scenario.duplicateShare ?? 0.3,
    seed: scenario.seed ?? 1,
    settleTimeoutMs: scenario.settleTimeoutMs ?? 300_000,
    httpTimeoutMs: scenario.httpTimeoutMs ?? 600_000,
  }
  for (const name of ['requests', 'keys', 'connections', 'messages'] as const) {
    if (!Number.isSafeInteger(options[name]) || options[name] < 1) {
      throw new Error(`${name} must be a positive integer, got ${options[name]}`)
    }
  }
  if (!(options.duplicateShare >= 0 && options.duplicateShare < 1)) {
    throw new Error(`the duplicate share must be at least 0 and below 1, got ${options.duplicateShare}`)
  }
  if (options.connections > options.requests) {
    throw new Error(`connections (${options.connections}) cannot exceed requests (${options.requests})`)
  }

  const random = seededRandom(options.seed)
  const runId = Math.random().toString(36).slice(2, 10)
  const skus = { payments: `sku_load_${runId}_payments`, orders: `sku_load_${runId}_orders` }
  const plan = planOrderMessages({
    messages: options.messages,
    duplicateShare: options.duplicateShare,
    runId,
    sku: skus.orders,
    random,
  })

  const dynamodb = new DynamoDBClient(localClientConfig(sample.dynamodbEndpoint))
  const documents = DynamoDBDocumentClient.from(dynamodb)
  const sqs = new SQSClient(localSqsClientConfig(sample.sqsEndpoint))
  try {
    const scan = async (tableName: string) => {
      const items: Record<string, unknown>[] = []
      for await (const page of paginateScan(
        { client: documents },
        { TableName: tableName, ConsistentRead: true },
      )) {
        items.push(...(page.Items ?? []))
      }
      return items
    }
    const available = async (sku: string) =>
      Number(
        (
          await documents.send(
            new GetCommand({ TableName: sample.tables.stockTable, Key: { sku }, ConsistentRead: true }),
          )
        ).Item?.available,
      )
    const providerCharges = async () =>
      ((await (await fetch(`${sample.url}/_local/state`)).json()) as { providerCharges: number })
        .providerCharges
    const deadLetters = async () => {
      const { Attributes = {} } = await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: sample.deadLetterQueueUrl,
          AttributeNames: ['ApproximateNumberOfMessages'],
        }),
      )
      return Number(Attributes.ApproximateNumberOfMessages ?? 0)
    }

    // Stock for each phase: exactly what it should take, so both end at 0.
    const initial = { payments: options.keys, orders: plan.eventIds.size }
    for (const phase of ['payments', 'orders'] as const) {
      await documents.send(
        new PutCommand({
          TableName: sample.tables.stockTable,
          Item: { sku: skus[phase], available: initial[phase] },
        }),
      )
    }
    const chargesBefore = await providerCharges()
    const deadLettersBefore = await deadLetters()
    const metricsBefore = await sample.metrics()

    // Phase 1: payments through the API; each first run also sends an order_paid to the queue.
    const http = await runPaymentLoad({
      url: sample.url,
      requests: options.requests,
      keys: options.keys,
      connections: options.connections,
      runId,
      sku: skus.payments,
      random,
      timeoutMs: options.httpTimeoutMs,
    })
    await sample.settled(options.settleTimeoutMs)
    const payments = (await scan(sample.tables.paymentsTable)).filter((payment) =>
      String(payment.customer).startsWith(http.customerPrefix),
    )
    const chargesAfter = await providerCharges()
    const metricsAfterPayments = await sample.metrics()

    // Phase 2: order_paid messages with duplicates straight into the queue.
    const batchesBefore = await sample.invocations()
    const consumerStarted = performance.now()
    await sendOrderMessages(sqs, sample.queueUrl, plan.bodies)
    await sample.settled(options.settleTimeoutMs)
    const consumerMs = performance.now() - consumerStarted
    const batches = (await sample.invocations()) - batchesBefore
    const orders = await scan(sample.tables.ordersTable)
    const ordersOf = (sku: string) => orders.filter((order) => order.sku === sku)
    const phaseOrders = ordersOf(skus.orders)
    const createdEvents = new Set(phaseOrders.map((order) => String(order.eventId)))
    const metricsAtEnd = await sample.metrics()

    const report: LoadScenarioReport = {
      options,
      pollers: sample.pollers,
      payments: {
        ...http,
        stored: payments.length,
        providerCharges: chargesAfter - chargesBefore,
        orders: ordersOf(skus.payments).length,
        stockTaken: initial.payments - (await available(skus.payments)),
      },
      orders: {
        messages: plan.bodies.length,
        distinctEvents: plan.eventIds.size,
        duplicates: plan.duplicates,
        created: phaseOrders.length,
        createdEvents: [...createdEvents].filter((eventId) => plan.eventIds.has(eventId)).length,
        stockTaken: initial.orders - (await available(skus.orders)),
        deadLetters: (await deadLetters()) - deadLettersBefore,
        batches,
        durationMs: consumerMs,
      },
      metrics: {
        payments: difference(metricsAfterPayments, metricsBefore),
        orders: difference(metricsAtEnd, metricsAfterPayments),
      },
      checks: [],
    }
    report.checks = loadChecks(report)
    return report
  } finally {
    sqs.destroy()
    dynamodb.destroy()
  }
}

/**
 * The musts of a load run: every request answered, no 5xx, one charge and one first response per
 * key, every replay identical to its original, one order and one stock unit per distinct event.
 *
 * @example
 * loadChecks(report).filter((check) => !check.ok)
 */
export const loadChecks = (report: Omit<LoadScenarioReport, 'checks'>): LoadCheck[] => {
  const { payments, orders, options } = report
  const check = (label: string, actual: number, expected: number): LoadCheck => ({
    label,
    actual,
    expected,
    ok: actual === expected,
  })
  const paymentMetric = (name: string) => report.metrics.payments.Payment?.[name] ?? 0
  return [
    check('payment requests answered', payments.responses, options.requests),
    check('payment responses 5xx', payments.serverErrors, 0),
    check('payment keys run more than once', payments.keysRunTwice, 0),
    check('first (non-replayed) 201 responses', payments.first, options.keys),
    check('replays identical to their original', payments.replaysIdentical, payments.replayed),
    check('charges in the payments table', payments.stored, options.keys),
    check('charges made by the payment provider', payments.providerCharges, options.keys),
    check('orders from the payments', payments.orders, options.keys),
    check('stock taken by the payments', payments.stockTaken, options.keys),
    check(
      'EMF IdempotencyReplayed (Payment) = replayed 201s',
      paymentMetric('IdempotencyReplayed'),
      payments.replayed,
    ),
    check(
      'EMF IdempotencyInProgress (Payment) = 409s',
      paymentMetric('IdempotencyInProgress'),
      payments.inProgress,
    ),
    check('orders created from order_paid messages', orders.created, orders.distinctEvents),
    check('distinct events among those orders', orders.createdEvents, orders.distinctEvents),
    check('stock decrements from order_paid messages', orders.stockTaken, orders.distinctEvents),
    check('messages in the dead-letter queue', orders.deadLetters, 0),
  ]
}

/**
 * mulberry32: a small seeded generator, so a run (a load test, a chaos run) can be repeated exactly.
 *
 * @example
 * const random = seededRandom(7)
 * random() // the same number in [0, 1) for seed 7, every time
 */
export const seededRandom = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

const difference = (after: EmfCounts, before: EmfCounts): EmfCounts =>
  Object.fromEntries(
    Object.entries(after).map(([functionName, metrics]) => [
      functionName,
      Object.fromEntries(
        Object.entries(metrics)
          .map(([name, count]) => [name, count - (before[functionName]?.[name] ?? 0)] as const)
          .filter(([, count]) => count > 0),
      ),
    ]),
  )
