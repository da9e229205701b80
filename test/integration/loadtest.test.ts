import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import { type LoadSample, startLoadSample } from '../../infra/local/load-sample.js'
import { type LoadScenarioReport, loadChecks, runLoadScenario } from '../../infra/local/load-scenario.js'

// The local SQS server (fauxqs) loads node:sqlite, and Node warns that it is experimental when it is
// first imported: captured before the imports, and asserted below.
const warnings = await vi.hoisted(async () =>
  (await import('../helpers/captured-output.js')).captureWarnings(),
)

// `npm run loadtest` in small: the same scenario and checks, in this process, against the test
// run's DynamoDB Local. 500 payment requests over 10 keys from 10 connections, then 100 order_paid
// messages of which 30 are duplicates, handled by 5 concurrent pollers.
let sample: LoadSample
let report: LoadScenarioReport

beforeAll(async () => {
  // The functions log every charge, order and in-progress record: not wanted in the test output.
  vi.spyOn(console, 'info').mockImplementation(() => {})
  vi.spyOn(console, 'warn').mockImplementation(() => {})
  sample = await startLoadSample({
    dynamodbEndpoint: inject('dynamoEndpoint'),
    tablePrefix: `load-${randomUUID().slice(0, 8)}`,
    pollers: 5,
    providerLatencyMs: 20,
  })
  report = await runLoadScenario(sample, {
    requests: 500,
    keys: 10,
    connections: 10,
    messages: 100,
    duplicateShare: 0.3,
    settleTimeoutMs: 60_000,
    httpTimeoutMs: 120_000,
  })
}, 240_000)

afterAll(async () => {
  await sample?.stop()
  vi.restoreAllMocks()
})

describe('the load test, small', () => {
  it('answers every payment request, never with a 5xx, and charges each key exactly once', () => {
    const { payments } = report
    expect(payments.responses).toBe(500)
    expect(payments.errors).toBe(0)
    expect(payments.serverErrors).toBe(0)
    expect(payments.first + payments.replayed + payments.inProgress).toBe(500)
    expect(payments.other).toBe(0)
    expect(payments.first).toBe(10)
    expect(payments.keysPaid).toBe(10)
    expect(payments.keysRunTwice).toBe(0)
    expect(payments.stored).toBe(10)
    expect(payments.providerCharges).toBe(10)
  })

  it('replays every repeated key with the status and body of its first response', () => {
    expect(report.payments.replayed).toBeGreaterThan(0)
    expect(report.payments.replaysIdentical).toBe(report.payments.replayed)
  })

  it('creates one order per payment and one per distinct order_paid event, however often it is delivered', () => {
    expect(report.payments.orders).toBe(10)
    expect(report.payments.stockTaken).toBe(10)
    expect(report.orders.messages).toBe(100)
    expect(report.orders.duplicates).toBe(30)
    expect(report.orders.distinctEvents).toBe(70)
    expect(report.orders.created).toBe(70)
    expect(report.orders.createdEvents).toBe(70)
    expect(report.orders.stockTaken).toBe(70)
    expect(report.orders.deadLetters).toBe(0)
  })

  it('counts every outcome in the EMF metrics the functions write', () => {
    expect(report.metrics.payments.Payment).toMatchObject({
      IdempotencyClaimed: 10,
      IdempotencyCompleted: 10,
      IdempotencyReplayed: report.payments.replayed,
    })
    expect(report.metrics.payments.Payment?.IdempotencyInProgress ?? 0).toBe(report.payments.inProgress)
    expect(report.metrics.orders.OrderConsumer).toMatchObject({
      IdempotencyClaimed: 70,
      IdempotencyCompleted: 70,
    })
  })

  it('passes every check, and fails the check whose figure is off', () => {
    expect(report.checks.filter((check) => !check.ok)).toEqual([])
    const twice = loadChecks({ ...report, payments: { ...report.payments, stored: 11, serverErrors: 1 } })
    expect(twice.filter((check) => !check.ok).map((check) => check.label)).toEqual([
      'payment responses 5xx',
      'charges in the payments table',
    ])
  })
  it("warned only that the local SQS server's node:sqlite is experimental", () => {
    expect(
      warnings.list.filter((warning) => !/^SQLite is an experimental feature/.test(warning.message)),
    ).toEqual([])
  })
})
