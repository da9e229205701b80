import { randomBytes } from 'node:crypto'
import middy from '@middy/core'
import httpErrorHandler from '@middy/http-error-handler'
import httpJsonBodyParser from '@middy/http-json-body-parser'
import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import {
  DynamoDBStore,
  IdempotencyInProgressError,
  IdempotencyKeyInvalidError,
  idempotent,
  makeIdempotent,
} from '../../src/index.js'
import { countingClient, createIdempotencyTable, scanTable } from '../helpers/dynamodb.js'
import { loadEvent } from '../helpers/events.js'
import { gate, lambdaContext, manualClock, recordingLogger } from '../helpers/lambda.js'

// A catalogue of what hostile or broken callers send. Each case gets a clear 4xx or error, and
// nothing stays claimed afterwards.

// biome-ignore lint/suspicious/noExplicitAny: events are edited freely in tests
type AnyEvent = Record<string, any>

const { client } = countingClient()
let tableName: string
let store: DynamoDBStore
beforeEach(async () => {
  tableName = await createIdempotencyTable(client)
  store = new DynamoDBStore({ client, tableName })
})
afterAll(() => client.destroy())

const stuckClaims = async () =>
  (await scanTable(client, tableName)).filter((item) => item.status?.S === 'IN_PROGRESS').length

const v2 = (changes: (event: AnyEvent) => void = () => {}) => {
  const event = loadEvent<AnyEvent>('http-v2-post-payment.json')
  changes(event)
  return event
}

const api = () => {
  let runs = 0
  const logger = recordingLogger()
  const handler = middy(async () => {
    runs++
    return { statusCode: 201, body: '{"id":"pay_1"}' }
  })
    .use(httpErrorHandler({ logger: false }))
    .use(httpJsonBodyParser({ disableContentTypeError: true }))
    .use(idempotent({ store, logger }))
  return {
    call: async (event: unknown) => (await handler(event as never, lambdaContext())) as AnyEvent,
    runs: () => runs,
    logger,
  }
}

describe('hostile keys', () => {
  it.each([
    ['empty', ''],
    ['only spaces', '   '],
    ['256 characters', 'k'.repeat(256)],
    ['10 000 characters', 'k'.repeat(10_000)],
    ['a NUL byte', 'key\u0000'],
    ['a CRLF header injection', 'key\r\nX-Injected: 1'],
    ['an escape sequence', '\u001b[31mred'],
    ['unicode', 'ключ'],
    ['an emoji', '🔑'],
    ['a quoted list', '"a", "b"'],
  ])('answers a key that is %s with a 400 and claims nothing', async (_name, key) => {
    const { call, runs } = api()
    const answer = await call(v2((event) => (event.headers['idempotency-key'] = key)))
    expect(answer.statusCode).toBe(400)
    expect(answer.headers['Content-Type']).toBe('application/problem+json')
    expect(runs()).toBe(0)
    expect(await scanTable(client, tableName)).toEqual([])
  })

  it('never echoes a hostile key into the problem response or the logs', async () => {
    const { call, logger } = api()
    const answer = await call(
      v2((event) => (event.headers['idempotency-key'] = `x${'\u0007'.repeat(3)}<script>`)),
    )
    expect(answer.body).not.toContain('<script>')
    expect(JSON.stringify(logger.lines)).not.toContain('<script>')
  })
})

describe('hostile bodies', () => {
  it('fingerprints a binary base64 body by its bytes and replays it', async () => {
    const { call, runs } = api()
    const bytes = randomBytes(4_096).toString('base64')
    const upload = () =>
      v2((event) => {
        event.headers['content-type'] = 'application/octet-stream'
        event.headers['idempotency-key'] = 'upload-1'
        event.body = bytes
        event.isBase64Encoded = true
      })
    expect((await call(upload())).statusCode).toBe(201)
    expect((await call(upload())).headers['Idempotent-Replayed']).toBe('true')
    expect(runs()).toBe(1)
  })

  it('lets the body parser refuse malformed JSON before any claim', async () => {
    const { call, runs } = api()
    const answer = await call(v2((event) => (event.body = '{"amount": 100,')))
    expect(answer.statusCode).toBe(422)
    expect(runs()).toBe(0)
    expect(await scanTable(client, tableName)).toEqual([])
  })

  it('fingerprints malformed JSON by its bytes when no parser runs', async () => {
    let runs = 0
    const handler = middy(async () => {
      runs++
      return { statusCode: 201, body: '{}' }
    }).use(idempotent({ store }))
    const event = () => v2((e) => (e.body = '{"amount": 100,'))
    await handler(event() as never, lambdaContext())
    const replay = (await handler(event() as never, lambdaContext())) as AnyEvent
    expect(replay.headers['Idempotent-Replayed']).toBe('true')
    expect(runs).toBe(1)
  })

  it('handles a 5 MB body', async () => {
    const { call, runs } = api()
    const huge = JSON.stringify({
      items: Array.from({ length: 100_000 }, (_, i) => ({ sku: `sku-${i}`, qty: i })),
    })
    expect(huge.length).toBeGreaterThan(2_500_000)
    const event = () => v2((e) => (e.body = huge))
    expect((await call(event())).statusCode).toBe(201)
    expect((await call(event())).headers['Idempotent-Replayed']).toBe('true')
    expect(runs()).toBe(1)
  })

  it('answers a JSON body nested 5 000 levels deep with a 400, not a crash', async () => {
    let runs = 0
    const handler = middy(async () => {
      runs++
      return { statusCode: 201, body: '{}' }
    }).use(idempotent({ store }))
    const deep = `${'['.repeat(5_000)}${']'.repeat(5_000)}`
    const answer = (await handler(v2((e) => (e.body = deep)) as never, lambdaContext())) as AnyEvent
    expect(answer.statusCode).toBe(400)
    expect(runs).toBe(0)
    expect(await stuckClaims()).toBe(0)
  })
})

describe('broken events and contexts', () => {
  it.each([
    ['headers: null', (e: AnyEvent) => (e.headers = null)],
    ['no headers at all', (e: AnyEvent) => delete e.headers],
    ['no body', (e: AnyEvent) => delete e.body],
    ['body: null', (e: AnyEvent) => (e.body = null)],
  ])('handles an HTTP event with %s', async (_name, change) => {
    const { call } = api()
    const answer = await call(v2(change))
    expect([201, 400, 422]).toContain(answer.statusCode)
    expect(await stuckClaims()).toBe(0)
  })

  it.each([undefined, null, 42, 'text', [], {}, { requestContext: null }, { Records: 'nope' }])(
    'handles the event %j without a key selector',
    async (event) => {
      let runs = 0
      const handler = middy(async () => {
        runs++
        return 'ok'
      }).use(idempotent({ store }))
      await expect(handler(event as never, lambdaContext())).resolves.toBe('ok')
      await expect(handler(event as never, lambdaContext())).resolves.toBe('ok')
      expect(runs).toBe(1)
    },
  )

  it('answers an event its key selector cannot read with a 400 and claims nothing', async () => {
    const handler = middy(async () => 'ok').use(
      idempotent({ store, key: (event: { detail: { orderId: string } }) => event.detail.orderId }),
    )
    for (const event of [undefined, null, 42, {}, { detail: null }]) {
      await expect(handler(event as never, lambdaContext())).rejects.toBeInstanceOf(
        IdempotencyKeyInvalidError,
      )
    }
    expect(await scanTable(client, tableName)).toEqual([])
  })

  it.each([
    ['no context', undefined],
    ['an empty object', {}],
    ['a remaining time of NaN', { getRemainingTimeInMillis: () => Number.NaN }],
    ['a negative remaining time', { getRemainingTimeInMillis: () => -5 }],
    ['a context that is a string', 'context'],
  ])('falls back to leaseMs with %s', async (_name, context) => {
    const clock = manualClock()
    const work = makeIdempotent(async (_input: { id: string }, _context?: unknown) => 'ok', {
      store,
      name: 'work',
      key: (input) => input.id,
      leaseMs: 7_000,
      now: clock.now,
    })
    let lease: number | undefined
    const spy = makeIdempotent(
      async (input: { id: string }, ctx?: unknown) => {
        const [item] = await scanTable(client, tableName)
        lease = Number(item?.leaseExpiresAt?.N)
        return work(input, ctx)
      },
      { store, name: 'spy', key: (input) => input.id, leaseMs: 7_000, now: clock.now },
    )
    await expect(spy({ id: 'c-1' }, context)).resolves.toBe('ok')
    expect(lease).toBe(clock.now() + 7_000)
  })
})

describe('skewed clocks', () => {
  it('keeps a duplicate out when its instance runs a few seconds ahead, within the lease', async () => {
    const started = gate()
    const finish = gate()
    let runs = 0
    const fn = async (_input: string, _context?: unknown) => {
      runs++
      started.open()
      await finish.opened
      return 'done'
    }
    const base = manualClock()
    const ahead = manualClock(base.now() + 5_000)
    const onTime = makeIdempotent(fn, { store, name: 'skew', now: base.now })
    const skewed = makeIdempotent(fn, { store, name: 'skew', now: ahead.now })
    const first = onTime('order-1', lambdaContext({ remainingMs: 30_000 }))
    await started.opened
    await expect(skewed('order-1', lambdaContext())).rejects.toBeInstanceOf(IdempotencyInProgressError)
    finish.open()
    await first
    await expect(skewed('order-1', lambdaContext())).resolves.toBe('done')
    expect(runs).toBe(1)
  })
})

describe('tenants', () => {
  it('never lets tenant A replay tenant B’s result with the same key', async () => {
    const statement = makeIdempotent(
      async (input: { tenant: string; key: string }) => ({ owner: input.tenant }),
      {
        store,
        name: 'statement',
        key: (input) => input.key,
        scope: (input) => input.tenant,
        fingerprint: false,
      },
    )
    expect(await statement({ tenant: 'tenant-b', key: 'k-1' })).toEqual({ owner: 'tenant-b' })
    expect(await statement({ tenant: 'tenant-a', key: 'k-1' })).toEqual({ owner: 'tenant-a' })
    expect(await statement({ tenant: 'tenant-a', key: 'k-1' })).toEqual({ owner: 'tenant-a' })
  })
})
