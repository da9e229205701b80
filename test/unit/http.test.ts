import middy from '@middy/core'
import { describe, expect, it } from 'vitest'
import { problemResponse, readKeyHeader } from '../../src/http.js'
import {
  httpCaller,
  httpRequest,
  IdempotencyConfigError,
  IdempotencyInProgressError,
  IdempotencyResultError,
  IdempotencyStoreError,
  idempotent,
  MemoryStore,
} from '../../src/index.js'
import { loadEvent } from '../helpers/events.js'
import { lambdaContext, recordingLogger } from '../helpers/lambda.js'

// biome-ignore lint/suspicious/noExplicitAny: API Gateway events are edited freely in tests
type HttpEvent = Record<string, any>

const v1 = () => loadEvent<HttpEvent>('http-v1-post-payment.json')
const v2 = () => loadEvent<HttpEvent>('http-v2-post-payment.json')
const url = () => loadEvent<HttpEvent>('function-url-post-payment.json')

describe('httpRequest', () => {
  it('recognises the three event shapes and nothing else', () => {
    expect(httpRequest(v1())).toMatchObject({ shape: 'rest', method: 'POST', path: '/payments' })
    expect(httpRequest(v2())).toMatchObject({ shape: 'http', method: 'POST', path: '/payments' })
    expect(httpRequest(url())).toMatchObject({ shape: 'function-url', method: 'POST', path: '/payments' })
    expect(httpRequest(loadEvent('eventbridge-order-paid.json'))).toBeUndefined()
    expect(httpRequest({ requestContext: {} })).toBeUndefined()
    expect(httpRequest('POST /payments')).toBeUndefined()
  })
})

describe('readKeyHeader', () => {
  const withKey = (value: string) => {
    const event = v2()
    event.headers['idempotency-key'] = value
    return httpRequest(event) as NonNullable<ReturnType<typeof httpRequest>>
  }

  it('unescapes RFC 8941 strings and trims surrounding whitespace', () => {
    expect(readKeyHeader(withKey('"a\\"b\\\\c"'), 'Idempotency-Key')).toBe('a"b\\c')
    expect(readKeyHeader(withKey('  k-1  '), 'Idempotency-Key')).toBe('k-1')
  })

  it.each([
    ['"a\\nb"', /invalid escape/],
    ['tab\there', /visible ASCII/],
    ['"x\u0001"', /visible ASCII/],
    ['', /is empty/],
  ])('refuses %j', (value, message) => {
    expect(() => readKeyHeader(withKey(value), 'Idempotency-Key')).toThrow(message)
  })
})

describe('httpCaller', () => {
  it('names the caller from a JWT, a Lambda authorizer or IAM', () => {
    expect(httpCaller(httpRequest(v2()) as never)).toBe(
      'jwt:https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example:7d8ca528-4931-4254-9273-ea5ee853f271',
    )
    const lambdaV1 = v1()
    lambdaV1.requestContext.authorizer = { principalId: 'user-7', integrationLatency: 12 }
    expect(httpCaller(httpRequest(lambdaV1) as never)).toBe('principal:user-7')
    const lambdaV2 = v2()
    lambdaV2.requestContext.authorizer = { lambda: { principalId: 'user-8' } }
    expect(httpCaller(httpRequest(lambdaV2) as never)).toBe('principal:user-8')
    expect(httpCaller(httpRequest(url()) as never)).toBe(
      'iam:arn:aws:iam::123456789012:user/checkout-service',
    )
    const iamV1 = v1()
    iamV1.requestContext.authorizer = undefined
    iamV1.requestContext.identity.userArn = 'arn:aws:iam::123456789012:role/batch'
    expect(httpCaller(httpRequest(iamV1) as never)).toBe('iam:arn:aws:iam::123456789012:role/batch')
  })

  it('returns undefined for an anonymous request', () => {
    const anonymous = v2()
    delete anonymous.requestContext.authorizer
    expect(httpCaller(httpRequest(anonymous) as never)).toBeUndefined()
  })
})

describe('problemResponse', () => {
  it('adds Retry-After to a 409 and a 503, and hides server-side internals', () => {
    const inProgress = problemResponse(new IdempotencyInProgressError(7), 'https://docs')
    expect(inProgress.headers).toMatchObject({
      'Retry-After': '7',
      'Content-Type': 'application/problem+json',
    })
    const unavailable = problemResponse(
      new IdempotencyStoreError('claim', new Error('secret table name')),
      'https://docs',
    )
    expect(unavailable).toMatchObject({ statusCode: 503, headers: { 'Retry-After': '1' } })
    expect(unavailable.body).not.toContain('secret')
    const notStored = problemResponse(new IdempotencyResultError('too big'), 'https://docs')
    expect(JSON.parse(notStored.body ?? '')).toMatchObject({
      status: 500,
      title: 'Response could not be stored',
    })
  })
})

// The 503 when the claim fails: test/unit/faults.test.ts, for every fault.
describe('HTTP answers', () => {
  it('gives the first caller its response when it cannot be stored, answers retries 500, and never runs again', async () => {
    const logger = recordingLogger()
    let runs = 0
    const handler = middy(async () => {
      runs++
      return { statusCode: 201, body: 'x'.repeat(1_000) }
    }).use(idempotent({ store: new MemoryStore({ maxResultBytes: 100 }), logger }))
    const first = (await handler(v2() as never, lambdaContext())) as HttpEvent
    const retry = (await handler(v2() as never, lambdaContext())) as HttpEvent
    expect([first.statusCode, retry.statusCode]).toEqual([201, 500])
    expect(logger.lines.map((line) => line.details?.outcome)).toEqual(['not-stored'])
    expect(JSON.parse(retry.body).title).toBe('Response could not be stored')
    expect(runs).toBe(1)
  })

  it.each([
    [{ header: 'Idempotency Key' }, /option "http.header" must be an HTTP header name/],
    [{ methods: 'POST' }, /option "http.methods" must be an array of HTTP method names/],
    [{ storeResponse: true }, /option "http.storeResponse" must be a function/],
  ])('refuses the http option %j when the factory runs', (http, message) => {
    expect(() => idempotent({ store: new MemoryStore(), http: http as never })).toThrow(
      IdempotencyConfigError,
    )
    expect(() => idempotent({ store: new MemoryStore(), http: http as never })).toThrow(message)
  })
})
