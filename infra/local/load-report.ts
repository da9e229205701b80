import type { EmfCounts } from './load-sample.js'
import type { LoadScenarioReport } from './load-scenario.js'

const number = (value: number): string => Math.round(value).toLocaleString('en-US')
const ms = (value: number): string => (value < 10 ? value.toFixed(1) : number(value))
const seconds = (value: number): string => `${(value / 1000).toFixed(1)} s`

/**
 * The figures of a load run as the console shows them: payments (statuses, replays, charges,
 * throughput, latency), then orders, then the EMF metrics, then every "must" with its verdict.
 *
 * @example
 * console.log(formatLoadReport(report))
 */
export const formatLoadReport = (report: LoadScenarioReport): string => {
  const { payments: p, orders: o, options } = report
  const verdict = (label: string) => {
    const check = report.checks.find((candidate) => candidate.label === label)
    return check === undefined ? '' : `   (must be ${number(check.expected)}: ${check.ok ? 'ok' : 'FAILED'})`
  }
  const consumer = (name: string) => report.metrics.orders.OrderConsumer?.[name] ?? 0
  const lines = [
    `Payments: ${number(options.requests)} POST /payments over ${number(options.keys)} Idempotency-Keys from ${options.connections} connections`,
    `  responses                ${number(p.responses)} of ${number(p.requests)} (connection errors ${p.errors}, timeouts ${p.timeouts})`,
    `    201 first              ${number(p.first)}${verdict('first (non-replayed) 201 responses')}`,
    `    201 replayed           ${number(p.replayed)}`,
    `    409 in progress        ${number(p.inProgress)}`,
    `    other                  ${number(p.other)}${otherStatuses(p.byStatus)}`,
    `  5xx                      ${number(p.serverErrors)}${verdict('payment responses 5xx')}`,
    `  replays identical        ${number(p.replaysIdentical)} of ${number(p.replayed)}${verdict('replays identical to their original')}`,
    `  payments table           ${number(p.stored)}${verdict('charges in the payments table')}`,
    `  provider charges         ${number(p.providerCharges)}${verdict('charges made by the payment provider')}`,
    `  orders from payments     ${number(p.orders)}, stock taken ${number(p.stockTaken)}${verdict('orders from the payments')}`,
    `  throughput               ${number(p.requestsPerSecond)} req/s (${seconds(p.durationMs)})`,
    `  latency                  p50 ${ms(p.latencyMs.p50)} ms, p90 ${ms(p.latencyMs.p90)} ms, p99 ${ms(
      p.latencyMs.p99,
    )} ms, max ${ms(p.latencyMs.max)} ms (mean ${ms(p.latencyMs.average)} ms)`,
    '',
    `Orders: ${number(o.messages)} order_paid messages, ${number(o.duplicates)} of them duplicates (${Math.round(
      options.duplicateShare * 100,
    )}%) of ${number(o.distinctEvents)} events, ${report.pollers} pollers`,
    `  orders created           ${number(o.created)}${verdict('orders created from order_paid messages')}`,
    `  distinct events ordered  ${number(o.createdEvents)}${verdict('distinct events among those orders')}`,
    `  stock decrements         ${number(o.stockTaken)}${verdict('stock decrements from order_paid messages')}`,
    `  dead letters             ${number(o.deadLetters)}${verdict('messages in the dead-letter queue')}`,
    `  duplicates answered      replayed ${number(consumer('IdempotencyReplayed'))}; ${number(
      consumer('IdempotencyInProgress'),
    )} deliveries met their event in progress on another poller and came back after the visibility timeout`,
    `  batches delivered        ${number(o.batches)} (redeliveries included), drained in ${seconds(o.durationMs)}`,
    '',
    'EMF metrics written by the functions (namespace LambdaIdempotencySample)',
    ...metricLines('payments', report.metrics.payments),
    ...metricLines('orders', report.metrics.orders),
    '',
  ]
  const failed = report.checks.filter((check) => !check.ok)
  lines.push(
    failed.length === 0
      ? `All ${report.checks.length} checks passed.`
      : `${failed.length} of ${report.checks.length} checks FAILED:\n${failed
          .map((check) => `  ${check.label}: ${number(check.actual)}, must be ${number(check.expected)}`)
          .join('\n')}`,
  )
  return lines.join('\n')
}

const otherStatuses = (byStatus: Record<number, number>): string => {
  const others = Object.entries(byStatus).filter(([status]) => status !== '201' && status !== '409')
  return others.length === 0 ? '' : ` (${others.map(([status, count]) => `${status}: ${count}`).join(', ')})`
}

const metricLines = (phase: string, counts: EmfCounts): string[] =>
  Object.entries(counts)
    .filter(([, metrics]) => Object.keys(metrics).length > 0)
    .map(
      ([functionName, metrics]) =>
        `  ${phase.padEnd(9)} ${functionName}: ${Object.entries(metrics)
          .map(([name, count]) => `${name.replace(/^Idempotency/, '')} ${number(count)}`)
          .join(', ')}`,
    )
