import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { SendMessageCommand } from '@aws-sdk/client-sqs'
import { DynamoDBDocumentClient, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb'
import { localClientConfig, startDynamoDBLocal } from './dynamodb-local.js'
import type { Fault, KillPoint, LocalFunction } from './function-runner.js'
import { seededRandom } from './load-scenario.js'
import { startLocalSample } from './local-sample.js'
import { startSqsEventSource } from './sqs-event-source.js'

/** Options of {@link runChaos}. */
export interface ChaosOptions {
  /** Payments sent through the API, each retried by its client until it gets an answer. @default 250 */
  payments?: number
  /** `order_paid` events sent straight to the queue, each as two messages. @default 120 */
  events?: number
  /** The share of invocations the run ends (at a named point or a random moment). @default 0.5 */
  killRate?: number
  /** Runs the sample with SAMPLE_UNPROTECTED=1. @default false */
  unprotected?: boolean
  /** Payment and consumer timeouts, shorter than the stack's so that leases end within the run. @default 5000 / 4000 */
  timeoutsMs?: { Payment: number; OrderConsumer: number }
  /** Seed of the fault plan. @default 1 */
  seed?: number
  /** Progress lines. @default discarded */
  log?: (line: string) => void
}

/** One row of the report: a check, what it should be, what it was, and the violations it counts. */
export interface ChaosCheck {
  check: string
  expected: string
  measured: string
  violations: number
}

/** What a chaos run measured. */
export interface ChaosReport {
  kills: number
  byPoint: Record<KillPoint | 'random moment' | 'timeout', number>
  checks: ChaosCheck[]
  violations: number
  durationMs: number
}

const SKU = 'sku_chaos'
// A JVM that starts fast rather than runs fast: the outage is the restart, not the JIT warming up.
const FAST_START = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-Xshare:auto']
const START_STOCK = 1_000_000
const points: (KillPoint | 'random')[] = ['before-effect', 'after-effect', 'after-completion', 'random']

/**
 * The chaos run behind `npm run chaos`: the local sample with DynamoDB Local keeping its data on
 * disk (restarted once mid-run), payments with client retries, `order_paid` events sent twice and
 * delivered twice, and invocations ended at named points and random moments. Then it checks the
 * effects: one charge per payment, one order per event, the stock taken once per event, no 5xx but
 * the ones the run caused, no key blocked once its lease ended.
 *
 * @example
 * const report = await runChaos({ payments: 20, events: 10 })
 * report.violations // 0
 */
export const runChaos = async (options: ChaosOptions = {}): Promise<ChaosReport> => {
  const started = Date.now()
  const log = options.log ?? (() => {})
  const payments = options.payments ?? 250
  const events = options.events ?? 120
  const killRate = options.killRate ?? 0.5
  const timeouts = options.timeoutsMs ?? { Payment: 5000, OrderConsumer: 4000 }
  const random = seededRandom(options.seed ?? 1)
  const byPoint: ChaosReport['byPoint'] = {
    'before-effect': 0,
    'after-effect': 0,
    'after-completion': 0,
    'random moment': 0,
    timeout: 0,
  }
  let turn = 0
  // The functions whose invocations the run ends, once the sample has started them.
  let killed: LocalFunction[] = []
  const reached = (point: KillPoint): number =>
    killed.reduce((sum, fn) => sum + (fn.stats.killsAt[point] ?? 0), 0)
  const faults = (functionName: string): Fault | undefined => {
    if (functionName === 'OrderReceipts' || random() >= killRate) return undefined
    // A named point no kill has reached yet comes first. An invocation asked to end after its
    // effect ends there only if it runs the effect (a replay or a 409 never does), so taking the
    // points in turn could miss one in a short run, depending on how invocations interleave.
    const missing = points.find((point) => point !== 'random' && reached(point) === 0)
    const point = missing ?? (points[turn++ % points.length] as KillPoint | 'random')
    return point === 'random' ? { killAfterMs: Math.floor(random() * 400) } : { killAt: point }
  }

  const directory = await mkdtemp(join(tmpdir(), 'lambda-idempotency-chaos-'))
  let dynamo = await startDynamoDBLocal({ dbPath: directory, jvmOptions: FAST_START })
  const port = Number(new URL(dynamo.endpoint).port)
  const stops: (() => Promise<void>)[] = [async () => dynamo.stop()]
  try {
    const sample = await startLocalSample({
      port: 0,
      dynamodbEndpoint: dynamo.endpoint,
      tablePrefix: 'chaos',
      duplicateDeliveries: true,
      visibilityTimeoutSeconds: Math.ceil(timeouts.OrderConsumer / 1000) + 1,
      maxReceiveCount: 1000,
      providerLatencyMs: 20,
      timeoutsMs: { ...timeouts, OrderReceipts: 10_000 },
      concurrency: 6,
      unprotected: options.unprotected ?? false,
      faults,
      functionOutput: () => {},
      log: () => {},
    })
    stops.unshift(sample.stop)
    killed = [sample.functions.payment, sample.functions.consumer, sample.functions.outbox]
    const client = new DynamoDBClient(localClientConfig(dynamo.endpoint))
    stops.unshift(async () => client.destroy())
    const documents = DynamoDBDocumentClient.from(client)
    await documents.send(
      new PutCommand({ TableName: sample.tables.stockTable, Item: { sku: SKU, available: START_STOCK } }),
    )
    // Two more pollers, as Lambda scales its SQS pollers.
    const pollers = [1, 2].map(() =>
      startSqsEventSource({
        client: sample.sqs.client,
        queueUrl: sample.sqs.queueUrl,
        queueArn: sample.sqs.queueArn,
        handler: sample.functions.consumer.handler,
        functionName: sample.functions.consumer.name,
        timeoutMs: timeouts.OrderConsumer,
        duplicateDeliveries: true,
        log: () => {},
      }),
    )
    stops.unshift(async () => {
      for (const poller of pollers) await poller.stop()
    })

    // The store's outage: DynamoDB Local stopped and started again on the same port and data.
    let down: { from: number; to: number } | undefined
    let upAt = Date.now()
    const restart = async () => {
      const from = Date.now()
      await dynamo.stop()
      log('chaos: DynamoDB Local stopped')
      await new Promise((resolve) => setTimeout(resolve, 1_000))
      dynamo = await startDynamoDBLocal({ dbPath: directory, port, jvmOptions: FAST_START })
      // Answers while it warms up again (a cold JVM, empty caches) still count as the outage's.
      down = { from, to: Date.now() + 10_000 }
      upAt = Date.now()
      log(`chaos: DynamoDB Local restarted after ${Date.now() - from} ms`)
    }

    let restarting: Promise<void> | undefined
    let restartFailure: unknown
    const answers: { status: number; at: number; errorType: string | null }[] = []
    const finals = new Map<number, number>()
    const pay = async (index: number) => {
      const body = JSON.stringify({
        amount: 100 * quantityOf(index),
        currency: 'EUR',
        customer: `cus_chaos_${index}`,
        sku: SKU,
        quantity: quantityOf(index),
      })
      // A client gives up three minutes after it started or the store came back.
      const patience = 180_000
      const start = Date.now()
      while (Date.now() < Math.max(start, upAt) + patience || restarting !== undefined) {
        let status = 0
        try {
          const response = await fetch(`${sample.url}/payments`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'idempotency-key': `chaos-payment-${index}` },
            body,
          })
          await response.arrayBuffer()
          status = response.status
          answers.push({ status, at: Date.now(), errorType: response.headers.get('x-local-function-error') })
        } catch {
          // the connection failed: retried as a client would
        }
        finals.set(index, status)
        if (status !== 0 && status < 500 && status !== 409) return
        await new Promise((resolve) => setTimeout(resolve, 200 + random() * 400))
      }
    }
    const sendEvent = async (index: number) => {
      const body = JSON.stringify({
        type: 'order_paid',
        eventId: `evt_chaos_${index}`,
        paymentId: `pay_chaos_${index}`,
        customer: `cus_event_${index}`,
        sku: SKU,
        quantity: quantityOf(index),
        amount: 100,
        currency: 'EUR',
        paidAt: new Date().toISOString(),
      })
      // The producer sends it twice, as after a lost answer.
      for (let copy = 0; copy < 2; copy++) {
        await sample.sqs.client.send(
          new SendMessageCommand({ QueueUrl: sample.sqs.queueUrl, MessageBody: body }),
        )
      }
    }

    log(`chaos: ${payments} payments, ${events} order_paid events, kill rate ${killRate}`)
    let sent = 0
    const restartAt = Math.floor(payments * 0.4)
    const work = [
      ...Array.from({ length: events }, (_, index) => () => sendEvent(index)),
      ...Array.from({ length: payments }, (_, index) => async () => {
        if (++sent === restartAt) {
          restarting = restart()
            .catch((error: unknown) => {
              restartFailure = error
            })
            .finally(() => {
              restarting = undefined
            })
        }
        await pay(index)
      }),
    ]
    await pool(work, 8)
    if (restarting !== undefined) await restarting
    // A store that did not come back is the run's failure, not a finding about the sample.
    if (restartFailure !== undefined) throw restartFailure
    const settle = async () => {
      for (const source of [sample.eventSource, ...pollers]) await source.settled(240_000)
    }
    await settle()
    // A claim whose invocation was ended holds its key until its lease ends; the retry that takes
    // it over may still be waiting for that moment. Wait past the leases still running, let the
    // sources settle again, and only then look for keys that stay blocked.
    for (let round = 0; round < 3; round++) {
      const { Items = [] } = await documents.send(
        new ScanCommand({ TableName: sample.tables.idempotencyTable, ConsistentRead: true }),
      )
      const leases = Items.filter((item) => item.status === 'IN_PROGRESS').map((item) =>
        Number(item.leaseExpiresAt ?? Number.POSITIVE_INFINITY),
      )
      const latest = Math.max(0, ...leases)
      if (latest <= Date.now()) break
      await sleep(Math.min(latest - Date.now(), 30_000) + 500)
      await settle()
    }

    const functions = killed
    const kills = functions.reduce((sum, fn) => sum + fn.stats.kills + fn.stats.timeouts, 0)
    byPoint.timeout = functions.reduce((sum, fn) => sum + fn.stats.timeouts, 0)
    for (const fn of functions) {
      for (const [where, count] of Object.entries(fn.stats.killsAt)) {
        byPoint[where as keyof ChaosReport['byPoint']] += count
      }
    }

    // The checks.
    const scan = async (TableName: string) => {
      const items: Record<string, unknown>[] = []
      let ExclusiveStartKey: Record<string, unknown> | undefined
      do {
        const page = await documents.send(
          new ScanCommand({ TableName, ConsistentRead: true, ExclusiveStartKey }),
        )
        items.push(...(page.Items ?? []))
        ExclusiveStartKey = page.LastEvaluatedKey
      } while (ExclusiveStartKey !== undefined)
      return items
    }
    const [orders, stock, records] = await Promise.all([
      scan(sample.tables.ordersTable),
      scan(sample.tables.stockTable),
      scan(sample.tables.idempotencyTable),
    ])
    const countBy = (values: string[]) => {
      const counts = new Map<string, number>()
      for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1)
      return counts
    }
    const charges = countBy(sample.provider.charges.map((charge) => charge.customer))
    const chargeCounts = Array.from(
      { length: payments },
      (_, index) => charges.get(`cus_chaos_${index}`) ?? 0,
    )
    const ordersBy = countBy(orders.map((order) => String(order.customer)))
    const customers = [
      ...Array.from({ length: payments }, (_, index) => `cus_chaos_${index}`),
      ...Array.from({ length: events }, (_, index) => `cus_event_${index}`),
    ]
    const orderCounts = customers.map((customer) => ordersBy.get(customer) ?? 0)
    const expectedTaken =
      Array.from({ length: payments }, (_, index) => quantityOf(index)).reduce((a, b) => a + b, 0) +
      Array.from({ length: events }, (_, index) => quantityOf(index)).reduce((a, b) => a + b, 0)
    const taken = START_STOCK - Number(stock.find((item) => item.sku === SKU)?.available ?? START_STOCK)
    const window = down as { from: number; to: number } | undefined
    const inOutage = (at: number) => window !== undefined && at >= window.from && at <= window.to
    const ended = (errorType: string | null) =>
      errorType === 'Runtime.ExitError' || errorType === 'Sandbox.Timedout'
    const fiveHundreds = answers.filter((answer) => answer.status >= 500)
    const unexplained = fiveHundreds.filter((answer) => !ended(answer.errorType) && !inOutage(answer.at))
    const unanswered = [...finals.values()].filter((status) => status !== 201).length
    // Held: in progress with a lease that has not ended (or none), after every lease had its time.
    const now = Date.now()
    const blocked = records.filter(
      (record) =>
        record.status === 'IN_PROGRESS' && Number(record.leaseExpiresAt ?? Number.POSITIVE_INFINITY) > now,
    ).length

    for (const answer of unexplained) log(`chaos: unexplained ${JSON.stringify(answer)}`)
    const histogram = countBy([...finals.values()].map(String))
    log(`chaos: final answers ${JSON.stringify(Object.fromEntries(histogram))}`)
    for (const record of records.filter((r) => r.status === 'IN_PROGRESS')) {
      log(`chaos: in progress ${JSON.stringify(record).slice(0, 300)} now ${Date.now()}`)
    }
    const spread = (counts: number[]) => `${Math.min(...counts)}..${Math.max(...counts)}`
    const checks: ChaosCheck[] = [
      {
        check: 'provider charges per payment key',
        expected: '1',
        measured: spread(chargeCounts),
        violations: chargeCounts.filter((count) => count !== 1).length,
      },
      {
        check: 'orders per event',
        expected: '1',
        measured: spread(orderCounts),
        violations: orderCounts.filter((count) => count !== 1).length,
      },
      {
        check: 'stock taken (sum over distinct events)',
        expected: String(expectedTaken),
        measured: String(taken),
        violations: taken === expectedTaken ? 0 : 1,
      },
      {
        check: "5xx other than the run's kills and the store outage",
        expected: '0',
        measured: `${unexplained.length} (of ${fiveHundreds.length} 5xx; ${fiveHundreds.filter((a) => a.status === 503).length} were 503)`,
        violations: unexplained.length,
      },
      {
        check: 'keys still blocked after their lease',
        expected: '0',
        measured: `${blocked} records in progress, ${unanswered} payments without a 201`,
        violations: blocked + unanswered,
      },
    ]
    return {
      kills,
      byPoint,
      checks,
      violations: checks.reduce((sum, check) => sum + check.violations, 0),
      durationMs: Date.now() - started,
    }
  } finally {
    for (const stop of stops) await stop().catch(() => {})
    await rm(directory, { recursive: true, force: true })
  }
}

/** The report as the table `npm run chaos` prints; its last line is `chaos: N kills, V violations`. */
export const formatChaosReport = (report: ChaosReport, unprotected: boolean): string => {
  const rows = [
    ['check', 'expected', 'measured', 'violations'],
    ...report.checks.map((c) => [c.check, c.expected, c.measured, String(c.violations)]),
  ]
  const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? []
  const line = (row: string[]) =>
    `| ${row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`
  return [
    `${unprotected ? 'unprotected' : 'protected'} run, ${Math.round(report.durationMs / 1000)} s; invocations ended: ${Object.entries(
      report.byPoint,
    )
      .map(([point, count]) => `${count} ${point}`)
      .join(', ')}`,
    '',
    line(rows[0] as string[]),
    `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`,
    ...rows.slice(1).map(line),
    '',
    `chaos: ${report.kills} kills, ${report.violations} violations`,
  ].join('\n')
}

const quantityOf = (index: number) => 1 + (index % 3)

const pool = async (work: (() => Promise<void>)[], size: number) => {
  let next = 0
  await Promise.all(
    Array.from({ length: size }, async () => {
      while (next < work.length) await (work[next++] as () => Promise<void>)()
    }),
  )
}
