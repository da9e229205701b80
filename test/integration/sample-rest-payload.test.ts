import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import { type LocalSample, startLocalSample } from '../../infra/local/local-sample.js'
import { emfMetricNames } from '../helpers/captured-output.js'

// The local SQS server (fauxqs) loads node:sqlite, and Node warns that it is experimental when it is
// first imported: captured before the imports, and asserted below.
const warnings = await vi.hoisted(async () =>
  (await import('../helpers/captured-output.js')).captureWarnings(),
)

// The same handler behind the REST API payload (1.0): the local server can play either gateway.
let sample: LocalSample
/** What the function printed (it runs in sandboxes, whose lines reach the runner). */
const functionLines: string[] = []

beforeAll(async () => {
  sample = await startLocalSample({
    port: 0,
    dynamodbEndpoint: inject('dynamoEndpoint'),
    tablePrefix: `sample-rest-${randomUUID().slice(0, 8)}`,
    payloadVersion: '1.0',
    providerLatencyMs: 0,
    log: () => {},
    functionOutput: (line) => functionLines.push(line),
  })
})

afterAll(async () => {
  await sample?.stop()
  vi.restoreAllMocks()
})

describe('the local sample with the REST API payload', () => {
  it('charges a retried payment once and replays it with Idempotent-Replayed', async () => {
    const send = () =>
      fetch(`${sample.url}/payments`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'rest-order-1' },
        body: JSON.stringify({
          amount: 900,
          currency: 'USD',
          customer: 'cus_rest',
          sku: 'sku_tea',
          quantity: 1,
        }),
      })
    const first = await send()
    const retry = await send()

    expect(first.status).toBe(201)
    expect(first.headers.get('idempotent-replayed')).toBeNull()
    expect(retry.status).toBe(201)
    expect(retry.headers.get('idempotent-replayed')).toBe('true')
    expect(await retry.json()).toEqual(await first.json())
    const state = await sample.state()
    expect(state.payments).toHaveLength(1)
    expect(state.providerCharges).toBe(1)
    // What the function printed: one charge, and one metric line per outcome.
    expect(functionLines.filter((line) => line.startsWith('charge created'))).toHaveLength(1)
    expect(emfMetricNames(functionLines)).toEqual(
      expect.arrayContaining(['IdempotencyClaimed', 'IdempotencyCompleted', 'IdempotencyReplayed']),
    )
  })

  it("warned only that the local SQS server's node:sqlite is experimental", () => {
    expect(
      warnings.list.filter((warning) => !/^SQLite is an experimental feature/.test(warning.message)),
    ).toEqual([])
  })
})
