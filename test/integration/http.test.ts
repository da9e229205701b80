import middy from '@middy/core'
import httpCors from '@middy/http-cors'
import httpErrorHandler from '@middy/http-error-handler'
import httpJsonBodyParser from '@middy/http-json-body-parser'
import type { APIGatewayProxyResult } from 'aws-lambda'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DynamoDBStore, type IdempotentMiddlewareOptions, idempotent } from '../../src/index.js'
import { countingClient, createIdempotencyTable } from '../helpers/dynamodb.js'
import { loadEvent } from '../helpers/events.js'
import { gate, lambdaContext } from '../helpers/lambda.js'

// biome-ignore lint/suspicious/noExplicitAny: API Gateway events are edited freely in tests
type HttpEvent = Record<string, any>

const { client } = countingClient()
let store: DynamoDBStore
beforeAll(async () => {
  store = new DynamoDBStore({ client, tableName: await createIdempotencyTable(client) })
})
afterAll(() => client.destroy())

const shapes = {
  'REST API (payload v1)': 'http-v1-post-payment.json',
  'HTTP API (payload v2)': 'http-v2-post-payment.json',
  'function URL': 'function-url-post-payment.json',
} as const

const ORIGIN = 'https://shop.example.com'

/** The event of a shape with its key, body, method and headers replaced as asked. */
const eventFor = (
  fixture: string,
  changes: { key?: string | null; body?: string; method?: string; headers?: Record<string, string> } = {},
): HttpEvent => {
  const event = loadEvent<HttpEvent>(fixture)
  const v1 = 'httpMethod' in event
  const keyHeader = v1 ? 'Idempotency-Key' : 'idempotency-key'
  if (changes.key === null) {
    delete event.headers[keyHeader]
    if (v1) delete event.multiValueHeaders[keyHeader]
  } else if (changes.key !== undefined) {
    event.headers[keyHeader] = changes.key
    if (v1) event.multiValueHeaders[keyHeader] = [changes.key]
  }
  if (changes.body !== undefined) event.body = changes.body
  if (changes.method !== undefined) {
    if (v1) event.httpMethod = changes.method
    else event.requestContext.http.method = changes.method
  }
  Object.assign(event.headers, changes.headers)
  return event
}

/** The recommended chain: CORS and the error handler outside, the body parser, then idempotent(). */
const paymentsApi = (
  respond: (body: { amount: number }) => APIGatewayProxyResult | Promise<APIGatewayProxyResult> = (body) => ({
    statusCode: 201,
    headers: { 'Content-Type': 'application/json', Location: '/payments/pay_1' },
    body: JSON.stringify({ id: `pay_${body.amount}`, amount: body.amount, at: Date.now() }),
  }),
  options: Partial<IdempotentMiddlewareOptions<HttpEvent>> = {},
) => {
  let runs = 0
  const handler = middy(async (event: HttpEvent) => {
    runs++
    return respond(event.body)
  })
    .use(httpCors({ origins: [ORIGIN] }))
    .use(httpErrorHandler({ logger: false }))
    .use(httpJsonBodyParser({ disableContentTypeError: true }))
    .use(idempotent<HttpEvent>({ store, ...options }))
  return {
    call: (event: HttpEvent) => handler(event as never, lambdaContext()) as Promise<HttpEvent>,
    runs: () => runs,
  }
}

const problemOf = (response: HttpEvent) => ({
  status: response.statusCode,
  contentType: response.headers['Content-Type'],
  problem: JSON.parse(response.body),
})

const uniqueKey = () => crypto.randomUUID()

describe.each(Object.entries(shapes))('%s', (_shape, fixture) => {
  it('replays the stored response byte for byte, with Idempotent-Replayed only on the replay', async () => {
    const api = paymentsApi()
    const key = uniqueKey()
    const first = await api.call(eventFor(fixture, { key }))
    const replay = await api.call(eventFor(fixture, { key }))
    expect(first.statusCode).toBe(201)
    expect(first.headers).not.toHaveProperty('Idempotent-Replayed')
    expect(replay.headers['Idempotent-Replayed']).toBe('true')
    const { 'Idempotent-Replayed': _marker, ...replayHeaders } = replay.headers
    expect({ ...replay, headers: replayHeaders }).toStrictEqual(first)
    expect(api.runs()).toBe(1)
  })

  it('puts the CORS headers on the first response, the replay and every problem answer', async () => {
    const api = paymentsApi()
    const key = uniqueKey()
    const answers = [
      await api.call(eventFor(fixture, { key })),
      await api.call(eventFor(fixture, { key })),
      await api.call(eventFor(fixture, { key, body: '{"amount":1}' })),
      await api.call(eventFor(fixture, { key: null })),
    ]
    expect(answers.map((a) => a.statusCode)).toEqual([201, 201, 422, 400])
    for (const answer of answers) expect(answer.headers['Access-Control-Allow-Origin']).toBe(ORIGIN)
  })

  it('answers a POST or PATCH without a key with a 400 problem and never runs the handler', async () => {
    const api = paymentsApi()
    for (const method of ['POST', 'PATCH']) {
      const answer = await api.call(eventFor(fixture, { key: null, method }))
      expect(problemOf(answer)).toMatchObject({
        status: 400,
        contentType: 'application/problem+json',
        problem: {
          status: 400,
          title: 'Idempotency-Key is missing',
          type: expect.stringContaining('#idempotency-key-missing'),
        },
      })
    }
    expect(api.runs()).toBe(0)
  })

  it('lets other methods through untouched, with or without a key', async () => {
    const api = paymentsApi()
    await api.call(eventFor(fixture, { key: null, method: 'GET' }))
    await api.call(eventFor(fixture, { key: 'k', method: 'PUT' }))
    await api.call(eventFor(fixture, { key: 'k', method: 'PUT' }))
    expect(api.runs()).toBe(3)
  })

  it.each([
    ['256 characters', 'k'.repeat(256), /256 characters long; the limit is 255/],
    ['a space', 'two words', /visible ASCII/],
    ['non-ASCII', 'clé-🔑', /visible ASCII/],
    ['an empty quoted string', '""', /is empty/],
    ['an unterminated quoted string', '"abc', /never closes/],
    ['text after the quoted string', '"abc"def', /after its quoted string/],
  ])('answers a key with %s with a 400 that says what is wrong', async (_case, key, detail) => {
    const api = paymentsApi()
    const answer = await api.call(eventFor(fixture, { key }))
    const { problem } = problemOf(answer)
    expect(answer.statusCode).toBe(400)
    expect(problem.title).toBe('Idempotency-Key is invalid')
    expect(problem.detail).toMatch(detail)
    expect(api.runs()).toBe(0)
  })

  it('accepts the key quoted as an RFC 8941 string or bare, as the same key', async () => {
    const api = paymentsApi()
    const key = uniqueKey()
    await api.call(eventFor(fixture, { key: `"${key}"` }))
    const replay = await api.call(eventFor(fixture, { key }))
    expect(replay.headers['Idempotent-Replayed']).toBe('true')
    expect(api.runs()).toBe(1)
  })

  it('answers a reused key with another amount with a 422, and replays a retry with reordered JSON', async () => {
    const api = paymentsApi()
    const key = uniqueKey()
    await api.call(eventFor(fixture, { key, body: '{"amount":100,"currency":"EUR","customer":"cus_42"}' }))
    const reused = await api.call(
      eventFor(fixture, { key, body: '{"amount":200,"currency":"EUR","customer":"cus_42"}' }),
    )
    expect(problemOf(reused)).toMatchObject({
      status: 422,
      problem: { title: 'Idempotency-Key is already used' },
    })
    const reordered = await api.call(
      eventFor(fixture, { key, body: '{ "customer": "cus_42", "currency": "EUR", "amount": 100 }' }),
    )
    expect(reordered.headers['Idempotent-Replayed']).toBe('true')
    expect(api.runs()).toBe(1)
  })

  it('does the same for a body large enough for the WebAssembly reader', async () => {
    const api = paymentsApi()
    const key = uniqueKey()
    const note = 'n'.repeat(600)
    await api.call(eventFor(fixture, { key, body: `{"amount":100,"currency":"EUR","note":"${note}"}` }))
    const reused = await api.call(
      eventFor(fixture, { key, body: `{"amount":200,"currency":"EUR","note":"${note}"}` }),
    )
    expect(problemOf(reused)).toMatchObject({ status: 422 })
    const reordered = await api.call(
      eventFor(fixture, { key, body: `{ "note": "${note}", "currency": "EUR", "amount": 100.0 }` }),
    )
    expect(reordered.headers['Idempotent-Replayed']).toBe('true')
    expect(api.runs()).toBe(1)
  })

  it('answers a duplicate of a request still in progress with a 409 and Retry-After', async () => {
    const started = gate()
    const finish = gate()
    const api = paymentsApi(async () => {
      started.open()
      await finish.opened
      return { statusCode: 201, body: '{}' }
    })
    const key = uniqueKey()
    const first = api.call(eventFor(fixture, { key }))
    await started.opened
    const duplicate = await api.call(eventFor(fixture, { key }))
    expect(problemOf(duplicate)).toMatchObject({
      status: 409,
      contentType: 'application/problem+json',
      problem: { title: 'A request is outstanding for this Idempotency-Key' },
    })
    expect(Number(duplicate.headers['Retry-After'])).toBeGreaterThanOrEqual(1)
    finish.open()
    expect((await first).statusCode).toBe(201)
  })

  it('stores and replays a 4xx outcome, but releases the key on a 5xx so the retry runs', async () => {
    let status = 402
    const api = paymentsApi(() => ({ statusCode: status, body: JSON.stringify({ status }) }))
    const declined = uniqueKey()
    await api.call(eventFor(fixture, { key: declined }))
    const replayed = await api.call(eventFor(fixture, { key: declined }))
    expect(replayed).toMatchObject({ statusCode: 402, headers: { 'Idempotent-Replayed': 'true' } })
    expect(api.runs()).toBe(1)

    status = 503
    const unavailable = uniqueKey()
    await api.call(eventFor(fixture, { key: unavailable }))
    status = 201
    const retried = await api.call(eventFor(fixture, { key: unavailable }))
    expect(retried.statusCode).toBe(201)
    expect(retried.headers).not.toHaveProperty('Idempotent-Replayed')
    expect(api.runs()).toBe(3)
  })

  it('releases the key when the handler throws, so the retry runs', async () => {
    let fail = true
    const api = paymentsApi(() => {
      if (fail) throw new Error('provider timeout')
      return { statusCode: 201, body: '{}' }
    })
    const key = uniqueKey()
    expect((await api.call(eventFor(fixture, { key }))).statusCode).toBe(500)
    fail = false
    expect((await api.call(eventFor(fixture, { key }))).statusCode).toBe(201)
    expect(api.runs()).toBe(2)
  })

  it('keeps two authenticated callers with the same key apart', async () => {
    const api = paymentsApi()
    const key = uniqueKey()
    const asCaller = (caller: string) => {
      const event = eventFor(fixture, { key })
      const { authorizer } = event.requestContext
      if (authorizer.jwt) authorizer.jwt.claims.sub = caller
      else if (authorizer.claims) authorizer.claims.sub = caller
      else authorizer.iam.userArn = `arn:aws:iam::123456789012:user/${caller}`
      return event
    }
    const alice = await api.call(asCaller('alice'))
    const bob = await api.call(asCaller('bob'))
    const aliceAgain = await api.call(asCaller('alice'))
    expect(api.runs()).toBe(2)
    expect(bob.headers).not.toHaveProperty('Idempotent-Replayed')
    expect(aliceAgain.body).toBe(alice.body)
  })
})

describe('HTTP details', () => {
  const v1 = 'http-v1-post-payment.json'

  it('finds the header whatever its case', async () => {
    const api = paymentsApi()
    const key = uniqueKey()
    const shouting = eventFor(v1, { key: null, headers: { 'IDEMPOTENCY-KEY': key } })
    await api.call(shouting)
    const replay = await api.call(eventFor(v1, { key }))
    expect(replay.headers['Idempotent-Replayed']).toBe('true')
  })

  it('refuses a key header sent twice', async () => {
    const api = paymentsApi()
    const event = eventFor(v1, { key: 'a' })
    event.multiValueHeaders['Idempotency-Key'] = ['a', 'b']
    const answer = await api.call(event)
    expect(problemOf(answer)).toMatchObject({
      status: 400,
      problem: { detail: expect.stringMatching(/appeared 2 times/) },
    })
  })

  it('fingerprints a binary body by its bytes, decoded from base64', async () => {
    const upload = middy(async () => ({ statusCode: 201, body: 'stored' })).use(idempotent({ store }))
    const key = uniqueKey()
    const withBody = (bytes: number[]) => {
      const event = eventFor('http-v2-post-payment.json', {
        key,
        headers: { 'content-type': 'application/pdf' },
      })
      event.body = Buffer.from(bytes).toString('base64')
      event.isBase64Encoded = true
      return event
    }
    await upload(withBody([0x25, 0x50, 0x44, 0x46, 0xff]), lambdaContext())
    const replay = (await upload(withBody([0x25, 0x50, 0x44, 0x46, 0xff]), lambdaContext())) as HttpEvent
    expect(replay.headers['Idempotent-Replayed']).toBe('true')
    const changed = (await upload(withBody([0x25, 0x50, 0x44, 0x46, 0x00]), lambdaContext())) as HttpEvent
    expect(changed.statusCode).toBe(422)
  })

  it('replays an HTTP API result that is not a response object as the 200 JSON response API Gateway makes of it', async () => {
    const handler = middy(async () => ({ id: 'pay_1', amount: 100 })).use(idempotent({ store }))
    const key = uniqueKey()
    const event = () => eventFor('http-v2-post-payment.json', { key })
    await expect(handler(event(), lambdaContext())).resolves.toEqual({ id: 'pay_1', amount: 100 })
    await expect(handler(event(), lambdaContext())).resolves.toEqual({
      statusCode: 200,
      headers: { 'content-type': 'application/json', 'Idempotent-Replayed': 'true' },
      body: '{"id":"pay_1","amount":100}',
    })
  })

  it('works without any other middleware: answers are responses, not thrown errors', async () => {
    const handler = middy(async () => ({ statusCode: 201, body: '{}' })).use(idempotent({ store }))
    const answer = (await handler(eventFor(v1, { key: null }), lambdaContext())) as HttpEvent
    expect(answer).toMatchObject({ statusCode: 400, headers: { 'Content-Type': 'application/problem+json' } })
  })

  it('uses the header, methods and documentation it is configured with', async () => {
    const api = paymentsApi(undefined, {
      http: {
        header: 'X-Request-Key',
        methods: ['PUT'],
        documentation: 'https://api.example.com/docs/idempotency',
      },
    })
    const put = eventFor(v1, { key: null, method: 'PUT' })
    const answer = await api.call(put)
    expect(problemOf(answer).problem.type).toBe(
      'https://api.example.com/docs/idempotency#idempotency-key-missing',
    )
    const key = uniqueKey()
    await api.call(eventFor(v1, { key: null, method: 'PUT', headers: { 'X-Request-Key': key } }))
    const replay = await api.call(
      eventFor(v1, { key: null, method: 'PUT', headers: { 'x-request-key': key } }),
    )
    expect(replay.headers['Idempotent-Replayed']).toBe('true')
    await api.call(eventFor(v1, { key: null }))
    expect(api.runs()).toBe(2)
  })

  it('keeps CORS headers on answers even when idempotent() is registered before http-cors and http-error-handler', async () => {
    let runs = 0
    const handler = middy(async () => {
      runs++
      return { statusCode: 201, headers: { 'Content-Type': 'application/json' }, body: '{"id":"pay_1"}' }
    })
      .use(idempotent({ store }))
      .use(httpJsonBodyParser({ disableContentTypeError: true }))
      .use(httpCors({ origins: [ORIGIN] }))
      .use(httpErrorHandler({ logger: false }))
    const call = async (event: HttpEvent) => (await handler(event as never, lambdaContext())) as HttpEvent
    const key = uniqueKey()
    const first = await call(eventFor(v1, { key }))
    const replay = await call(eventFor(v1, { key }))
    const reused = await call(eventFor(v1, { key, body: '{"amount":1}' }))
    expect(replay).toMatchObject({
      statusCode: 201,
      body: first.body,
      headers: { 'Idempotent-Replayed': 'true' },
    })
    expect(replay.headers['Content-Type']).toBe('application/json')
    expect(problemOf(reused)).toMatchObject({ status: 422, contentType: 'application/problem+json' })
    for (const answer of [first, replay, reused])
      expect(answer.headers['Access-Control-Allow-Origin']).toBe(ORIGIN)
    expect(runs).toBe(1)
  })

  it('lets a scope option replace the caller scope', async () => {
    const api = paymentsApi(undefined, { scope: 'one-tenant' })
    const key = uniqueKey()
    const first = eventFor(v1, { key })
    const other = eventFor(v1, { key })
    other.requestContext.authorizer.claims.sub = 'someone-else'
    await api.call(first)
    const replay = await api.call(other)
    expect(replay.headers['Idempotent-Replayed']).toBe('true')
  })
})
