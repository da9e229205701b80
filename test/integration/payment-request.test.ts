import { randomUUID } from 'node:crypto'
import { DeleteItemCommand, DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb'
import type { APIGatewayProxyEventV2, APIGatewayProxyResult } from 'aws-lambda'
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it, vi } from 'vitest'
import { localClientConfig } from '../../infra/local/dynamodb-local.js'
import { type LocalSample, startLocalSample } from '../../infra/local/local-sample.js'
import { logEntries } from '../helpers/captured-output.js'
import { scanTable } from '../helpers/dynamodb.js'
import { loadEvent } from '../helpers/events.js'
import { lambdaContext } from '../helpers/lambda.js'

// The payment function of the local sample, through its local HTTP API (payload 2.0), on DynamoDB
// Local: what it refuses before a key is claimed, and what a re-run answers.
let sample: LocalSample
let dynamodb: DynamoDBClient
/** What the sample's functions printed (they run in sandboxes; their lines reach the runner). */
const functionLines: string[] = []

beforeAll(async () => {
  sample = await startLocalSample({
    port: 0,
    dynamodbEndpoint: inject('dynamoEndpoint'),
    tablePrefix: `payreq-${randomUUID().slice(0, 8)}`,
    providerLatencyMs: 0,
    log: () => {},
    functionOutput: (line) => functionLines.push(line),
  })
  dynamodb = new DynamoDBClient(localClientConfig(sample.dynamodbEndpoint))
})

afterAll(async () => {
  await sample?.stop()
  dynamodb?.destroy()
  vi.restoreAllMocks()
})

// The relay, the consumer and the receipt sender write idempotency records of their own after a
// 201: each test starts once they are done, so the records it counts are its own.
beforeEach(async () => {
  await sample.eventSource.settled()
  await sample.streamSource.settled()
})

const valid = { amount: 4200, currency: 'EUR', customer: 'cus_42', sku: 'sku_coffee', quantity: 1 }

const post = (key: string, body: unknown) =>
  fetch(`${sample.url}/payments`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })

const recordIds = async () =>
  new Set((await scanTable(dynamodb, sample.tables.idempotencyTable)).map((item) => item.id?.S as string))

/** Posts `body` with a fresh key; asserts a refusal with `status` that left no idempotency record. */
const refused = async (body: unknown, status: number) => {
  const before = await recordIds()
  const response = await post(randomUUID(), body)
  const text = await response.text()
  expect(response.status).toBe(status)
  expect(response.headers.get('content-type')).toBe('application/problem+json')
  expect(await recordIds()).toEqual(before)
  return {
    problem: JSON.parse(text) as { status: number; title: string; detail: string; field?: string },
    text,
  }
}

describe('the payment request', () => {
  it('refuses an invalid body before the key is claimed, so the fixed body with the same key is charged', async () => {
    const key = `fix-${randomUUID()}`
    const before = await recordIds()
    const first = await post(key, { ...valid, amount: 0 })
    expect(first.status).toBe(400)
    expect(await first.json()).toMatchObject({
      status: 400,
      field: 'amount',
      detail: expect.stringContaining('got 0'),
    })
    expect(await recordIds()).toEqual(before)

    const fixed = await post(key, valid)
    expect(fixed.status).toBe(201)
    expect(fixed.headers.get('idempotent-replayed')).toBeNull()
    const again = await post(key, valid)
    expect(again.status).toBe(201)
    expect(again.headers.get('idempotent-replayed')).toBe('true')
  })

  it('answers 413 to a body above the size limit without parsing or storing it', async () => {
    const { problem } = await refused({ ...valid, customer: 'c'.repeat(300_000) }, 413)
    expect(problem.detail).toMatch(/at most 8192/)
  })

  it('bounds amount: 1 to 99,999,999 minor units, integers only', async () => {
    for (const amount of [100_000_000, 2 ** 53 - 1, 0, -5, 12.5, '4200', null]) {
      const { problem } = await refused({ ...valid, amount }, 400)
      expect(problem.field).toBe('amount')
    }
    expect((await post(randomUUID(), { ...valid, amount: 99_999_999 })).status).toBe(201)
  })

  it('accepts only the listed currencies', async () => {
    for (const currency of ['XYZ', 'eur', 'EURO', 7]) {
      const { problem } = await refused({ ...valid, currency }, 400)
      expect(problem).toMatchObject({ field: 'currency', detail: expect.stringContaining('EUR, USD, GBP') })
    }
  })

  it('refuses control and format characters in customer and sku', async () => {
    for (const [field, value] of [
      ['customer', 'cus\u0000_42'],
      ['customer', 'cus_42\n'],
      ['customer', 'cus\u202e24_'],
      ['sku', 'sku\u0007coffee'],
      ['sku', 'sku_\u200bcoffee'],
      ['sku', ''],
    ] as const) {
      const { problem } = await refused({ ...valid, [field]: value }, 400)
      expect(problem.field).toBe(field)
    }
  })

  it('echoes at most 40 characters of an offending value and names its length', async () => {
    const { problem, text } = await refused({ ...valid, customer: 'x'.repeat(5000) }, 400)
    expect(problem.field).toBe('customer')
    expect(problem.detail).toContain('(5002 characters)')
    expect(text.length).toBeLessThan(400)
  })

  it('answers a provider key conflict with a stored 422, never a released key', async () => {
    const key = `conflict-${randomUUID()}`
    const before = await recordIds()
    expect((await post(key, valid)).status).toBe(201)
    // The idempotency record is lost (its TTL passed); the provider still knows its derived key.
    for (const id of await recordIds()) {
      if (!before.has(id)) {
        await dynamodb.send(
          new DeleteItemCommand({ TableName: sample.tables.idempotencyTable, Key: { id: { S: id } } }),
        )
      }
    }
    const charges = sample.state().then((state) => state.providerCharges)
    const other = { ...valid, amount: 9900 }
    const conflict = await post(key, other)
    expect(conflict.status).toBe(422)
    expect(await conflict.json()).toMatchObject({
      status: 422,
      detail: expect.stringContaining('another request'),
    })
    // Stored, not released: the same request meets the same answer without reaching the provider.
    const retry = await post(key, other)
    expect(retry.status).toBe(422)
    expect(retry.headers.get('idempotent-replayed')).toBe('true')
    expect((await sample.state()).providerCharges).toBe(await charges)
  })

  it('answers a re-run that finds the payment saved with the saved payment, and publishes no second event', async () => {
    const key = `rerun-${randomUUID()}`
    const before = await recordIds()
    const first = (await (await post(key, valid)).json()) as { paymentId: string; chargeId: string }
    // As if the first run had happened elsewhere: the saved row holds another charge and time.
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: sample.tables.paymentsTable,
        Key: { paymentId: { S: first.paymentId } },
        UpdateExpression: 'SET chargeId = :charge, createdAt = :at',
        ExpressionAttributeValues: {
          ':charge': { S: 'ch_first_run' },
          ':at': { S: '2026-01-01T00:00:00.000Z' },
        },
      }),
    )
    for (const id of await recordIds()) {
      if (!before.has(id)) {
        await dynamodb.send(
          new DeleteItemCommand({ TableName: sample.tables.idempotencyTable, Key: { id: { S: id } } }),
        )
      }
    }
    const rerun = await post(key, valid)
    expect(rerun.status).toBe(201)
    expect(rerun.headers.get('idempotent-replayed')).toBeNull()
    expect(await rerun.json()).toMatchObject({
      paymentId: first.paymentId,
      chargeId: 'ch_first_run',
      createdAt: '2026-01-01T00:00:00.000Z',
    })
    await sample.eventSource.settled()
    const sent = logEntries(functionLines).filter(
      (entry) => entry.startsWith('order_paid sent') && entry.includes(first.paymentId),
    )
    expect(sent).toHaveLength(1)
  })
})

describe('the customer with an authorizer', () => {
  const withJwt = (body: unknown, sub: string | undefined, key = randomUUID()) => {
    const event = loadEvent<APIGatewayProxyEventV2>('sample-apigw-v2-post-payment.json')
    event.headers['idempotency-key'] = key
    event.body = JSON.stringify(body)
    ;(event.requestContext as unknown as Record<string, unknown>).authorizer = {
      jwt: {
        claims: { iss: 'https://issuer.example.com', ...(sub === undefined ? {} : { sub }) },
        scopes: [],
      },
    }
    return event
  }
  const invoke = async (event: APIGatewayProxyEventV2) =>
    (await sample.functions.payment.handler(
      event,
      lambdaContext({ functionName: 'Payment' }),
    )) as APIGatewayProxyResult

  it('charges the caller named by the token when the body names no customer', async () => {
    const { customer: _none, ...body } = valid
    const response = await invoke(withJwt(body, 'cus_jwt'))
    expect(response.statusCode).toBe(201)
    expect(JSON.parse(response.body)).toMatchObject({ customer: 'cus_jwt' })
  })

  it('refuses a body that names another customer with 403, unstored, and charges the fixed body with the same key', async () => {
    const key = randomUUID()
    const before = await recordIds()
    const refusedResponse = await invoke(withJwt({ ...valid, customer: 'cus_victim' }, 'cus_jwt', key))
    expect(refusedResponse.statusCode).toBe(403)
    expect(JSON.parse(refusedResponse.body)).toMatchObject({ field: 'customer' })
    expect(await recordIds()).toEqual(before)
    const fixed = await invoke(withJwt({ ...valid, customer: 'cus_jwt' }, 'cus_jwt', key))
    expect(fixed.statusCode).toBe(201)
  })

  it('measures a base64 body by its decoded size: 413 above the limit, charged below it', async () => {
    const event = withJwt(valid, 'cus_jwt')
    event.isBase64Encoded = true
    event.body = Buffer.from(
      JSON.stringify({ ...valid, customer: 'cus_jwt', sku: 's'.repeat(9000) }),
    ).toString('base64')
    expect((await invoke(event)).statusCode).toBe(413)
    event.body = Buffer.from(JSON.stringify({ ...valid, customer: 'cus_jwt' })).toString('base64')
    expect((await invoke(event)).statusCode).toBe(201)
  })

  it('refuses an authorizer that names no customer', async () => {
    const response = await invoke(withJwt(valid, undefined))
    expect(response.statusCode).toBe(403)
  })
})
