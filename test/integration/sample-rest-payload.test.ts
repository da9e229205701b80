import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import { type LocalSample, startLocalSample } from '../../infra/local/local-sample.js'

// The same handler behind the REST API payload (1.0): the local server can play either gateway.
let sample: LocalSample

beforeAll(async () => {
  vi.spyOn(console, 'info').mockImplementation(() => {})
  sample = await startLocalSample({
    port: 0,
    dynamodbEndpoint: inject('dynamoEndpoint'),
    tablePrefix: `sample-rest-${randomUUID().slice(0, 8)}`,
    payloadVersion: '1.0',
    providerLatencyMs: 0,
    log: () => {},
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
  })
})
