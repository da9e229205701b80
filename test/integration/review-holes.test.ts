import { randomUUID } from 'node:crypto'
import middy from '@middy/core'
import httpErrorHandler from '@middy/http-error-handler'
import httpJsonBodyParser from '@middy/http-json-body-parser'
import type { Context } from 'aws-lambda'
import { afterAll, describe, expect, it } from 'vitest'
import {
  DynamoDBStore,
  IdempotencyAbandonedError,
  IdempotencyConfigError,
  type IdempotencyEvent,
  type IdempotencyStore,
  idempotent,
  idempotentSqsHandler,
  inspectKey,
  MemoryStore,
  makeIdempotent,
  recordId,
  releaseKey,
} from '../../src/index.js'
import { countingClient, createIdempotencyTable } from '../helpers/dynamodb.js'
import { loadEvent } from '../helpers/events.js'
import { delay, lambdaContext, recordingLogger } from '../helpers/lambda.js'

// biome-ignore lint/suspicious/noExplicitAny: events are edited freely in tests
type AnyEvent = Record<string, any>

const { client } = countingClient()
afterAll(() => client.destroy())

const stores: [string, () => Promise<IdempotencyStore>][] = [
  ['MemoryStore', async () => new MemoryStore()],
  [
    'DynamoDBStore on DynamoDB Local',
    async () => new DynamoDBStore({ client, tableName: await createIdempotencyTable(client) }),
  ],
]

/** A context whose remaining time runs out `ms` from now, as Lambda's does. */
const deadlineIn = (ms: number): Context => {
  const deadline = Date.now() + ms
  return { ...lambdaContext(), getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) }
}

const sqsRecord = (delivery: number): AnyEvent => ({
  messageId: '059f36b4-87a3-44ab-83d2-661975830a7d',
  receiptHandle: `AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a-${delivery}`,
  body: '{"eventId":"evt_1","orderId":"ord_1"}',
  attributes: { ApproximateReceiveCount: String(delivery), SentTimestamp: '1795867200000' },
  messageAttributes: {},
  md5OfBody: 'e4e68fb7bd0e697a0ae8f1bb342846b3',
  eventSource: 'aws:sqs',
  eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:orders',
  awsRegion: 'us-east-1',
})

const kinesisRecord = (arrival: number): AnyEvent => ({
  kinesis: {
    kinesisSchemaVersion: '1.0',
    partitionKey: 'ord_1',
    sequenceNumber: '49590338271490256608559692538361571095921575989136588898',
    data: Buffer.from('{"orderId":"ord_1"}').toString('base64'),
    approximateArrivalTimestamp: arrival,
  },
  eventSource: 'aws:kinesis',
  eventVersion: '1.0',
  eventID: 'shardId-000000000006:49590338271490256608559692538361571095921575989136588898',
  eventName: 'aws:kinesis:record',
  eventSourceARN: 'arn:aws:kinesis:us-east-1:123456789012:stream/orders',
  awsRegion: 'us-east-1',
})

describe.each(stores)('holes found by review, on %s', (_name, makeStore) => {
  describe('1. a Middy timeout never releases the key', () => {
    it("keeps a blocking key blocked after the handler timed out, so the withdrawal runs once (abandoned: 'block')", async () => {
      const store = await makeStore()
      let runs = 0
      const handler = middy(async (_event: { id: string }) => {
        runs++
        await delay(300)
        return 'withdrawn'
      }).use(
        idempotent<{ id: string }>({ store, key: (event) => event.id, abandoned: 'block', logger: false }),
      )

      await expect(handler({ id: 'w-1' }, deadlineIn(150))).rejects.toMatchObject({ name: 'TimeoutError' })
      await delay(200) // the first lease (the invocation's remaining time) has ended
      await expect(handler({ id: 'w-1' }, deadlineIn(150))).rejects.toBeInstanceOf(IdempotencyAbandonedError)
      expect(runs).toBe(1)
      await delay(150) // let the timed-out handler finish in the background
    })

    it('keeps the claim of a timed-out invocation instead of releasing it, and reports timed-out', async () => {
      const store = await makeStore()
      const events: IdempotencyEvent[] = []
      let runs = 0
      const handler = middy(async (_event: { id: string }) => {
        runs++
        await delay(300)
        return 'charged'
      }).use(
        idempotent<{ id: string }>({
          store,
          key: (event) => event.id,
          logger: false,
          onEvent: (e) => events.push(e),
        }),
      )

      await expect(handler({ id: 'c-1' }, deadlineIn(150))).rejects.toMatchObject({ name: 'TimeoutError' })
      expect(await inspectKey(store, { key: 'c-1', functionName: 'payments-charge' })).toMatchObject({
        status: 'IN_PROGRESS',
      })
      expect(events.map((event) => event.outcome)).toEqual(['claimed', 'timed-out'])
      expect(runs).toBe(1)
      await delay(200)
    })
  })

  describe('3. redeliveries are the same request', () => {
    it('replays a redelivered one-record SQS event through makeIdempotent and idempotent() without a key', async () => {
      const store = await makeStore()
      let runs = 0
      const wrapped = makeIdempotent(async (_event: AnyEvent) => ++runs, { store, name: 'consume' })
      const handler = middy(async (_event: AnyEvent) => ++runs).use(idempotent({ store }))
      expect(await wrapped({ Records: [sqsRecord(1)] })).toBe(1)
      expect(await wrapped({ Records: [sqsRecord(2)] })).toBe(1)
      expect(await handler({ Records: [sqsRecord(1)] }, lambdaContext())).toBe(2)
      expect(await handler({ Records: [sqsRecord(3)] }, lambdaContext())).toBe(2)
      expect(runs).toBe(2)
    })

    it('replays a redelivered one-record Kinesis event whose arrival time changed', async () => {
      const store = await makeStore()
      let runs = 0
      const wrapped = makeIdempotent(async (_event: AnyEvent) => ++runs, { store, name: 'stream' })
      await wrapped({ Records: [kinesisRecord(1795867200.1)] })
      await wrapped({ Records: [kinesisRecord(1795867260.9)] })
      expect(runs).toBe(1)
    })

    it('replays a redelivery under a business key instead of answering 422 (the payload is the fingerprint)', async () => {
      const store = await makeStore()
      let runs = 0
      const handler = middy(async (_event: AnyEvent) => ++runs).use(
        idempotent({ store, key: (event: AnyEvent) => JSON.parse(event.Records[0].body).eventId }),
      )
      expect(await handler({ Records: [sqsRecord(1)] }, lambdaContext())).toBe(1)
      expect(await handler({ Records: [sqsRecord(2)] }, lambdaContext())).toBe(1)
      expect(runs).toBe(1)
    })

    it('refuses a batch of several records without a key, naming the per-record handler, and runs nothing', async () => {
      const store = await makeStore()
      const logger = recordingLogger()
      let runs = 0
      const wrapped = makeIdempotent(async (_event: AnyEvent) => ++runs, { store, name: 'batch', logger })
      const second = { ...sqsRecord(1), messageId: 'a8a3e0a4-1ad5-4bd4-8b2e-4f6c2f0f0a11' }
      const failure = wrapped({ Records: [sqsRecord(1), second] })
      await expect(failure).rejects.toBeInstanceOf(IdempotencyConfigError)
      await expect(failure).rejects.toThrow(/batch of 2 sqs records.*idempotentSqsHandler/)
      expect(runs).toBe(0)
      expect(logger.lines[0]?.message).toMatch(/idempotentSqsHandler/)
    })
  })

  describe('5. an early answer from a later middleware', () => {
    it('frees the key when a middleware registered after idempotent() answers from before (the handler never ran)', async () => {
      const store = await makeStore()
      let runs = 0
      const handler = middy(async (_event: AnyEvent) => ++runs)
        .use(idempotent({ store, key: (event: AnyEvent) => event.id, abandoned: 'block' }))
        .use({ before: async (request) => (request.event.warmup ? 'warm' : undefined) })
      expect(await handler({ id: 'k-1', warmup: true }, lambdaContext())).toBe('warm')
      expect(await handler({ id: 'k-1' }, lambdaContext())).toBe(1)
      expect(await handler({ id: 'k-1' }, lambdaContext())).toBe(1)
      expect(runs).toBe(1)
    })

    it('stores the answer of a later after that answers early, so a retry replays it', async () => {
      const store = await makeStore()
      let runs = 0
      const handler = middy(async (_event: AnyEvent) => ++runs)
        .use(idempotent({ store, key: (event: AnyEvent) => event.id }))
        .use({ after: async (request) => ({ wrapped: request.response }) })
      expect(await handler({ id: 'k-2' }, lambdaContext())).toEqual({ wrapped: 1 })
      expect(await handler({ id: 'k-2' }, lambdaContext())).toEqual({ wrapped: 1 })
      expect(runs).toBe(1)
    })

    it('releases the key when a later onError answers early after the handler failed', async () => {
      const store = await makeStore()
      let runs = 0
      const handler = middy(async (_event: AnyEvent) => {
        runs++
        if (runs === 1) throw new Error('provider down')
        return runs
      })
        .use(idempotent({ store, key: (event: AnyEvent) => event.id }))
        .use({ onError: async () => 'handled' })
      expect(await handler({ id: 'k-3' }, lambdaContext())).toBe('handled')
      expect(await handler({ id: 'k-3' }, lambdaContext())).toBe(2)
      expect(runs).toBe(2)
    })

    it('stores the answer of a later after even when the handler returned undefined (the work ran)', async () => {
      const store = await makeStore()
      let runs = 0
      const handler = middy(async (_event: AnyEvent) => {
        runs++
        return undefined
      })
        .use(idempotent({ store, key: (event: AnyEvent) => event.id, abandoned: 'block' }))
        .use({ after: async () => ({ wrapped: 'after' }) })
      expect(await handler({ id: 'k-4' }, lambdaContext())).toEqual({ wrapped: 'after' })
      expect(await handler({ id: 'k-4' }, lambdaContext())).toEqual({ wrapped: 'after' })
      expect(runs).toBe(1)
    })

    it('frees the key when a later before sets earlyResponse to undefined itself (Middy 6 and later)', async () => {
      const store = await makeStore()
      let runs = 0
      const seen: unknown[] = []
      const handler = middy(async (_event: AnyEvent) => ++runs)
        .use(idempotent({ store, key: (event: AnyEvent) => event.id, abandoned: 'block' }))
        .use({
          before: async (request) => {
            seen.push(request.response)
            if (request.event.skip) request.earlyResponse = undefined
          },
        })
      expect(await handler({ id: 'k-5', skip: true }, lambdaContext())).toBeUndefined()
      expect(await handler({ id: 'k-5' }, lambdaContext())).toBe(1)
      expect(await handler({ id: 'k-5' }, lambdaContext())).toBe(1)
      expect(runs).toBe(1)
      // What a later before reads as the response while the handler has not run: a marker, not a result.
      expect(seen).toHaveLength(2)
      for (const response of seen) expect(typeof response).toBe('symbol')
    })

    it('settles both claims when two idempotent() in one chain are skipped by an early answer', async () => {
      const first = await makeStore()
      const second = await makeStore()
      let runs = 0
      const handler = middy(async (event: AnyEvent) => ({ run: ++runs, id: event.id }))
        .use(idempotent({ store: first, key: (event: AnyEvent) => event.id, abandoned: 'block' }))
        .use(idempotent({ store: second, key: (event: AnyEvent) => `${event.id}-2`, abandoned: 'block' }))
        .use({ before: async (request) => (request.event.warmup ? 'warm' : undefined) })
        .use({ after: async (request) => (request.event.wrap ? { wrapped: request.response } : undefined) })
      // Answered before the handler: both keys are released, and the next call runs the work.
      expect(await handler({ id: 'k-6', warmup: true }, lambdaContext())).toBe('warm')
      expect(await handler({ id: 'k-6' }, lambdaContext())).toEqual({ run: 1, id: 'k-6' })
      expect(await handler({ id: 'k-6' }, lambdaContext())).toEqual({ run: 1, id: 'k-6' })
      // Answered after the handler: both stores keep the answer, and retries replay it.
      expect(await handler({ id: 'k-7', wrap: true }, lambdaContext())).toEqual({
        wrapped: { run: 2, id: 'k-7' },
      })
      expect(await handler({ id: 'k-7', wrap: true }, lambdaContext())).toEqual({
        wrapped: { run: 2, id: 'k-7' },
      })
      expect(runs).toBe(2)
      for (const store of [first, second]) {
        const ids = ['k-6', 'k-7'].map((id) =>
          recordId(
            { functionName: lambdaContext().functionName, name: '', scope: '' },
            store === first ? id : `${id}-2`,
          ),
        )
        for (const id of ids) expect((await inspectKey(store, { id }))?.status).toBe('COMPLETED')
      }
    })
  })
})

describe('2. the default caller scope', () => {
  const v1 = () => loadEvent<AnyEvent>('http-v1-post-payment.json')
  const v2 = () => loadEvent<AnyEvent>('http-v2-post-payment.json')
  const url = () => loadEvent<AnyEvent>('function-url-post-payment.json')
  const withKey = (event: AnyEvent, key: string) => {
    if ('httpMethod' in event) {
      event.headers['Idempotency-Key'] = key
      event.multiValueHeaders['Idempotency-Key'] = [key]
    } else {
      event.headers['idempotency-key'] = key
    }
    return event
  }
  const v1Identity = (fields: AnyEvent) => (event: AnyEvent) => {
    delete event.requestContext.authorizer
    Object.assign(event.requestContext.identity, fields)
    return event
  }
  const authorizer = (value: AnyEvent) => (event: AnyEvent) => {
    event.requestContext.authorizer = value
    return event
  }
  const iam = (fields: AnyEvent) =>
    authorizer({ iam: { accessKey: 'ASIA', accountId: '123456789012', cognitoIdentity: null, ...fields } })
  const poolRole = 'arn:aws:sts::123456789012:assumed-role/Cognito_ShopAuth_Role/CognitoIdentityCredentials'

  const recognised: [string, () => AnyEvent, (caller: string) => (event: AnyEvent) => AnyEvent][] = [
    ['REST API, Cognito user pool', v1, (c) => authorizer({ claims: { sub: c, iss: 'https://idp' } })],
    [
      'REST API, Lambda authorizer',
      v1,
      (c) => authorizer({ principalId: c, integrationLatency: 2, tier: 'gold' }),
    ],
    ['REST API, IAM user', v1, (c) => v1Identity({ userArn: `arn:aws:iam::123456789012:user/${c}` })],
    [
      'REST API, IAM through a Cognito identity pool',
      v1,
      (c) =>
        v1Identity({ userArn: poolRole, cognitoIdentityId: `us-east-1:${c}`, cognitoIdentityPoolId: 'p' }),
    ],
    ['HTTP API, JWT with sub', v2, (c) => authorizer({ jwt: { claims: { sub: c, iss: 'https://idp' } } })],
    [
      'HTTP API, JWT from the client-credentials flow',
      v2,
      (c) => authorizer({ jwt: { claims: { client_id: c, iss: 'https://idp', scope: 'payments/write' } } }),
    ],
    ['HTTP API, Lambda authorizer with a principalId', v2, (c) => authorizer({ lambda: { principalId: c } })],
    ['HTTP API, IAM role', v2, (c) => iam({ userArn: `arn:aws:sts::123456789012:assumed-role/app/${c}` })],
    [
      'HTTP API, IAM through a Cognito identity pool',
      v2,
      (c) =>
        iam({ userArn: poolRole, cognitoIdentity: { identityId: `us-east-1:${c}`, identityPoolId: 'p' } }),
    ],
    ['function URL, IAM', url, (c) => iam({ userArn: `arn:aws:iam::123456789012:user/${c}` })],
  ]

  const api = (store: IdempotencyStore, options: { scope?: (event: AnyEvent) => string } = {}) => {
    let runs = 0
    const logger = recordingLogger()
    const handler = middy(async () => ({ statusCode: 201, body: JSON.stringify({ charge: ++runs }) }))
      .use(httpErrorHandler({ logger: false }))
      .use(httpJsonBodyParser({ disableContentTypeError: true }))
      .use(idempotent<AnyEvent>({ store, logger, ...options }))
    return {
      call: (event: AnyEvent) => handler(event as never, lambdaContext()) as Promise<AnyEvent>,
      runs: () => runs,
      logger,
    }
  }

  it.each(recognised)('keeps two callers apart: %s', async (_shape, fixture, as) => {
    const { call, runs } = api(new MemoryStore())
    const key = randomUUID()
    const alice = await call(as('alice')(withKey(fixture(), key)))
    const bob = await call(as('bob')(withKey(fixture(), key)))
    expect([alice.statusCode, bob.statusCode]).toEqual([201, 201])
    expect(bob.headers?.['Idempotent-Replayed']).toBeUndefined()
    expect(runs()).toBe(2)
    const aliceAgain = await call(as('alice')(withKey(fixture(), key)))
    expect(aliceAgain.headers['Idempotent-Replayed']).toBe('true')
    expect(runs()).toBe(2)
  })

  const unrecognised: [string, () => AnyEvent, AnyEvent][] = [
    ['an HTTP API Lambda authorizer that returns only its context', v2, { lambda: { userId: 'alice' } }],
    ['a JWT without sub or client id', v2, { jwt: { claims: { iss: 'https://idp', scope: 'x' } } }],
    [
      'a REST API Lambda authorizer context without principalId',
      v1,
      { userId: 'alice', integrationLatency: 1 },
    ],
  ]

  it.each(unrecognised)(
    'fails closed on %s: a 500 that runs nothing and tells the developer to pass scope',
    async (_what, fixture, value) => {
      const { call, runs, logger } = api(new MemoryStore())
      const response = await call(authorizer(value)(withKey(fixture(), randomUUID())))
      expect(response.statusCode).toBe(500)
      expect(response.headers['Content-Type']).toBe('application/problem+json')
      expect(runs()).toBe(0)
      expect(logger.lines.map((line) => line.message).join('\n')).toMatch(/option "scope" must be set/)
    },
  )

  it('runs under an explicit scope where the default cannot tell callers apart', async () => {
    const { call, runs } = api(new MemoryStore(), {
      scope: (event) => event.requestContext.authorizer.lambda.userId,
    })
    const key = randomUUID()
    await call(authorizer({ lambda: { userId: 'alice' } })(withKey(v2(), key)))
    const bob = await call(authorizer({ lambda: { userId: 'bob' } })(withKey(v2(), key)))
    expect(bob.statusCode).toBe(201)
    expect(runs()).toBe(2)
  })
})

describe('3. the SQS handler and redeliveries', () => {
  it('replays a redelivered record under its messageId (receipt handle and receive count changed)', async () => {
    const store = new DynamoDBStore({ client, tableName: await createIdempotencyTable(client) })
    let runs = 0
    const handler = idempotentSqsHandler(async () => ++runs, { store })
    await handler({ Records: [sqsRecord(1)] } as never, lambdaContext())
    const again = await handler({ Records: [sqsRecord(2)] } as never, lambdaContext())
    expect(again.batchItemFailures).toEqual([])
    expect(runs).toBe(1)
  })
})

describe('4 and 6. HTTP requests', () => {
  const shapes = {
    'REST API (payload v1)': 'http-v1-post-payment.json',
    'HTTP API (payload v2)': 'http-v2-post-payment.json',
    'function URL': 'function-url-post-payment.json',
  } as const

  const request = (fixture: string, changes: { key: string; query?: [string, string][]; body?: string }) => {
    const event = loadEvent<AnyEvent>(fixture)
    const query = changes.query ?? []
    if ('httpMethod' in event) {
      event.headers['Idempotency-Key'] = changes.key
      event.multiValueHeaders['Idempotency-Key'] = [changes.key]
      const multi: Record<string, string[]> = {}
      for (const [name, value] of query) multi[name] = [...(multi[name] ?? []), value]
      event.multiValueQueryStringParameters = query.length === 0 ? null : multi
      event.queryStringParameters =
        query.length === 0 ? null : Object.fromEntries(Object.entries(multi).map(([n, v]) => [n, v.at(-1)]))
    } else {
      event.headers['idempotency-key'] = changes.key
      event.rawQueryString = new URLSearchParams(query).toString()
    }
    if (changes.body !== undefined) event.body = changes.body
    return event
  }

  const chain = async ({ bodyParser = true } = {}) => {
    const store = new DynamoDBStore({ client, tableName: await createIdempotencyTable(client) })
    let runs = 0
    const handler = middy(async () => ({ statusCode: 201, body: JSON.stringify({ charge: ++runs }) }))
      .use(httpErrorHandler({ logger: false }))
      .use(bodyParser ? httpJsonBodyParser({ disableContentTypeError: true }) : { before: () => {} })
      .use(idempotent<AnyEvent>({ store }))
    return {
      call: (event: AnyEvent) => handler(event as never, lambdaContext()) as Promise<AnyEvent>,
      runs: () => runs,
    }
  }

  describe.each(Object.entries(shapes))('%s', (_shape, fixture) => {
    it('answers 422 to the same key with another query string, and replays the same query in another order', async () => {
      const { call, runs } = await chain()
      const key = randomUUID()
      const usd = await call(
        request(fixture, {
          key,
          query: [
            ['currency', 'USD'],
            ['note', 'a b'],
          ],
        }),
      )
      const eur = await call(
        request(fixture, {
          key,
          query: [
            ['currency', 'EUR'],
            ['note', 'a b'],
          ],
        }),
      )
      const reordered = await call(
        request(fixture, {
          key,
          query: [
            ['note', 'a b'],
            ['currency', 'USD'],
          ],
        }),
      )
      expect([usd.statusCode, eur.statusCode, reordered.statusCode]).toEqual([201, 422, 201])
      expect(reordered.headers['Idempotent-Replayed']).toBe('true')
      expect(runs()).toBe(1)
    })

    // With a JSON body parser before idempotent(), the handler itself sees both numbers as one.
    it('answers 422 to a raw JSON body whose integer beyond 2^53 differs in its last digit', async () => {
      const { call, runs } = await chain({ bodyParser: false })
      const key = randomUUID()
      const first = await call(request(fixture, { key, body: '{"amount":100,"reference":9007199254740992}' }))
      const second = await call(
        request(fixture, { key, body: '{"amount":100,"reference":9007199254740993}' }),
      )
      const same = await call(
        request(fixture, { key, body: '{"reference":9007199254740992, "amount":100.0}' }),
      )
      expect([first.statusCode, second.statusCode, same.statusCode]).toEqual([201, 422, 201])
      expect(runs()).toBe(1)
    })
  })

  it.each([
    ['HTTP API (payload v2)', 'http-v2-post-payment.json'],
    ['function URL', 'function-url-post-payment.json'],
  ])(
    'answers 400 to a repeated header that the %s joined with a comma, and runs nothing',
    async (_shape, fixture) => {
      const { call, runs } = await chain()
      const response = await call(request(fixture, { key: 'k-1,k-2' }))
      expect(response.statusCode).toBe(400)
      expect(JSON.parse(response.body).detail).toMatch(/must appear once/)
      expect(runs()).toBe(0)
    },
  )

  it('gives a 409 a short Retry-After, not the whole remaining Lambda time', async () => {
    const store = new MemoryStore()
    let release: () => void = () => {}
    const handler = middy(async () => {
      await new Promise<void>((resolve) => {
        release = resolve
      })
      return { statusCode: 201, body: '{}' }
    }).use(idempotent<AnyEvent>({ store }))
    const context = lambdaContext({ remainingMs: 900_000 })
    const key = randomUUID()
    const first = handler(request(shapes['HTTP API (payload v2)'], { key }) as never, context)
    await delay(20)
    const second = (await handler(
      request(shapes['HTTP API (payload v2)'], { key }) as never,
      context,
    )) as AnyEvent
    expect(second.statusCode).toBe(409)
    expect(Number(second.headers['Retry-After'])).toBeLessThanOrEqual(2)
    release()
    await first
  })
})

describe('6. releasing, completing and expiring', () => {
  it.each(stores)(
    'refuses to release a claim whose lease is live unless forced, on %s',
    async (_name, makeStore) => {
      const store = await makeStore()
      const id = recordId({ functionName: '', name: '', scope: '' }, 'k-live')
      const nowMs = Date.now()
      await store.claim({
        id,
        owner: 'o-1',
        leaseExpiresAtMs: nowMs + 60_000,
        expiresAtSeconds: nowMs / 1000 + 3600,
        nowMs,
      })
      await expect(releaseKey(store, { id })).rejects.toThrow(
        /option "force" must be true.*lease is still live/,
      )
      expect(await inspectKey(store, { id })).toMatchObject({ status: 'IN_PROGRESS', abandoned: false })
      expect(await releaseKey(store, { id }, { force: true })).toBe(true)
      expect(await inspectKey(store, { id })).toBeUndefined()
    },
  )

  it.each(stores)(
    'logs a completion whose answer was lost but that did succeed as completed, not fenced, on %s',
    async (_name, makeStore) => {
      const store = await makeStore()
      let lostAnswers = 1
      const flaky: IdempotencyStore = {
        maxResultBytes: store.maxResultBytes,
        claim: (request) => store.claim(request),
        release: (id, owner) => store.release(id, owner),
        get: (id) => store.get(id),
        complete: async (...args) => {
          const written = await store.complete(...args)
          if (lostAnswers-- > 0) throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' })
          return written
        },
      }
      const events: IdempotencyEvent[] = []
      const work = makeIdempotent(async (n: number) => n * 2, {
        store: flaky,
        name: 'double',
        logger: false,
        onEvent: (event) => events.push(event),
      })
      expect(await work(21)).toBe(42)
      expect(await work(21)).toBe(42)
      expect(events.map((event) => event.outcome)).toEqual(['claimed', 'completed', 'replayed'])
    },
  )

  it.each(stores)(
    'reports a claim whose record vanished as lost, not as a takeover, on %s',
    async (_name, makeStore) => {
      const store = await makeStore()
      const events: IdempotencyEvent[] = []
      const work = makeIdempotent(
        async (id: string) => {
          // The record disappears while the work runs (evicted, a restart, an operator).
          const record = (await inspectKey(store, { key: id, name: 'vanish' })) as { id: string }
          await releaseKey(store, { id: record.id }, { force: true })
          return 'done'
        },
        { store, name: 'vanish', key: (id) => id, logger: false, onEvent: (event) => events.push(event) },
      )
      expect(await work('k-gone')).toBe('done')
      expect(events.map((event) => event.outcome)).toEqual(['claimed', 'lost'])
    },
  )

  it.each(stores)(
    'never replays for less than ttlSeconds: the expiry is rounded up, on %s',
    async (_name, makeStore) => {
      const store = await makeStore()
      const nowMs = Date.UTC(2026, 11, 2, 12, 0, 0, 982)
      const work = makeIdempotent(async (_input: string) => 'ok', {
        store,
        name: 'ttl',
        key: () => 'k-ttl',
        ttlSeconds: 1,
        now: () => nowMs,
      })
      await work('input')
      const record = await inspectKey(store, { key: 'k-ttl', name: 'ttl' }, nowMs)
      expect(record?.expiresAt.getTime()).toBeGreaterThanOrEqual(nowMs + 1_000)
    },
  )
})
