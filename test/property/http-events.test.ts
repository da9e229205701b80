import middy from '@middy/core'
import httpErrorHandler from '@middy/http-error-handler'
import httpJsonBodyParser from '@middy/http-json-body-parser'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { idempotent, MemoryStore } from '../../src/index.js'
import { loadEvent } from '../helpers/events.js'
import { lambdaContext } from '../helpers/lambda.js'

// biome-ignore lint/suspicious/noExplicitAny: generated events are edited freely
type AnyEvent = Record<string, any>

// What a client controls in a request, however API Gateway or a function URL passes it on.
const headerName = fc.oneof(
  fc.constantFrom('Idempotency-Key', 'idempotency-key', 'IDEMPOTENCY-KEY', 'content-type', 'Content-Type'),
  fc.string({ maxLength: 20 }),
)
const headerValue = fc.oneof(
  fc.constantFrom(
    'application/json',
    'text/plain',
    'application/x-www-form-urlencoded',
    '"k1"',
    'k1',
    'a,b',
    '"a", "b"',
  ),
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ unit: fc.constantFrom('"', '\\', ',', ' ', 'a', '\t'), maxLength: 10 }),
)
const headers = fc.dictionary(headerName, headerValue, { maxKeys: 5 })
const body = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.constant(''),
  fc.json(),
  fc.string({ unit: 'binary' }),
  fc.uint8Array().map((bytes) => Buffer.from(bytes).toString('base64')),
  fc.constantFrom('{', '[1,', '{"amount":1e400}', '{"n":12345678901234567890123}', '"\\ud800"', 'null'),
)
const method = fc.oneof(
  fc.constantFrom('POST', 'post', 'PATCH', 'GET', 'PUT', 'DELETE', 'OPTIONS'),
  fc.string({ maxLength: 8 }),
)
const base64 = fc.oneof(fc.boolean(), fc.constantFrom(undefined, 'true', 1))
const query = fc.option(
  fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
)

const request = fc.record({
  shape: fc.constantFrom('rest', 'http', 'function-url'),
  method,
  headers,
  multiValueHeaders: fc.option(
    fc.dictionary(headerName, fc.array(headerValue, { maxLength: 3 }), { maxKeys: 3 }),
  ),
  body,
  isBase64Encoded: base64,
  query,
  path: fc.oneof(fc.constant('/payments'), fc.string({ maxLength: 10 })),
})

type Generated = typeof request extends fc.Arbitrary<infer T> ? T : never

/** A real-shaped event of the generated request's kind, with what the client controls replaced. */
const toEvent = (r: Generated): AnyEvent => {
  if (r.shape === 'rest') {
    const event = loadEvent<AnyEvent>('http-v1-post-payment.json')
    return {
      ...event,
      httpMethod: r.method,
      path: r.path,
      headers: r.headers,
      multiValueHeaders: r.multiValueHeaders,
      queryStringParameters: r.query,
      body: r.body,
      isBase64Encoded: r.isBase64Encoded,
    }
  }
  const event = loadEvent<AnyEvent>(
    r.shape === 'http' ? 'http-v2-post-payment.json' : 'function-url-post-payment.json',
  )
  event.requestContext.http.method = r.method
  return {
    ...event,
    rawPath: r.path,
    headers: r.headers,
    queryStringParameters: r.query,
    rawQueryString: new URLSearchParams(r.query ?? {}).toString(),
    body: r.body,
    isBase64Encoded: r.isBase64Encoded,
  }
}

const api = () => {
  let runs = 0
  const handler = middy(async () => {
    runs++
    return { statusCode: 201, body: JSON.stringify({ id: `pay_${runs}` }) }
  })
    .use(httpErrorHandler({ logger: false }))
    .use(httpJsonBodyParser({ disableContentTypeError: true }))
    .use(idempotent({ store: new MemoryStore(), logger: false }))
  return { handler, runs: () => runs }
}

describe('the HTTP layer on generated requests', () => {
  it('never answers a 5xx or throws, whatever header, body, method or encoding a client sends, and a retry replays or is refused', async () => {
    await fc.assert(
      fc.asyncProperty(request, async (generated) => {
        const { handler, runs } = api()
        const first = (await handler(toEvent(generated) as never, lambdaContext())) as AnyEvent
        expect(first.statusCode).toBeLessThan(500)
        const ranOnce = runs()
        const again = (await handler(toEvent(generated) as never, lambdaContext())) as AnyEvent
        expect(again.statusCode).toBeLessThan(500)
        // The same request again never runs the work a second time when the first one was keyed and stored.
        if (again.headers?.['Idempotent-Replayed'] === 'true') {
          expect(runs()).toBe(ranOnce)
          expect(again.body).toBe(first.body)
        }
      }),
      { numRuns: 300 },
    )
  })
})
