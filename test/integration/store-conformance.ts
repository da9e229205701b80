import { randomBytes } from 'node:crypto'
import middy from '@middy/core'
import { beforeEach, describe, expect, it } from 'vitest'
import {
  type ClaimRequest,
  hashValue,
  IdempotencyAbandonedError,
  IdempotencyInProgressError,
  IdempotencyKeyInvalidError,
  IdempotencyKeyReusedError,
  IdempotencyResultError,
  type IdempotencyStore,
  idempotent,
  inspectKey,
  makeIdempotent,
  recordId,
  releaseKey,
} from '../../src/index.js'
import { delay, gate, lambdaContext, manualClock, recordingLogger, until } from '../helpers/lambda.js'

/** What a store under test provides to the suite. */
export interface StoreUnderTest {
  store: IdempotencyStore
  /** Requests the store sent to its backend since the fixture was made (when it can count them). */
  requests?: () => number
  /** Every raw stored item, serialized, to prove raw keys never reach the table. */
  dump: () => Promise<string>
}

const FUNCTION = 'payments-charge'

/** A claim of `id` by `owner` at `nowMs`: a 1 s lease, a 60 s expiry, fingerprint 'f'. */
export const claimRequest = (
  id: string,
  owner: string,
  nowMs: number,
  overrides: Partial<ClaimRequest> = {},
) => ({
  id,
  owner,
  fingerprint: 'f',
  leaseExpiresAtMs: nowMs + 1_000,
  expiresAtSeconds: Math.floor(nowMs / 1000) + 60,
  nowMs,
  ...overrides,
})
const idOf = (key: string, scope = '', name = '', functionName = FUNCTION) =>
  recordId({ functionName, name, scope }, key)

/**
 * The promises every IdempotencyStore keeps, checked through the public entry points (a real
 * middy() chain and makeIdempotent) and through the store interface itself. Run it for each store.
 */
export const describeStoreConformance = (storeName: string, createFixture: () => Promise<StoreUnderTest>) => {
  describe(`${storeName}: the idempotency protocol`, () => {
    let fixture: StoreUnderTest
    let store: IdempotencyStore
    beforeEach(async () => {
      fixture = await createFixture()
      store = fixture.store
    })

    type PaymentEvent = { paymentId?: unknown; amount?: number; note?: string }
    const chargeHandler = (options: Partial<Parameters<typeof idempotent<PaymentEvent>>[0]> = {}) => {
      const charges: PaymentEvent[] = []
      const handler = middy(async (event: PaymentEvent) => {
        charges.push(structuredClone(event))
        return { chargeId: `ch_${charges.length}`, amount: event.amount }
      }).use(idempotent<PaymentEvent>({ store, key: (event) => event.paymentId, logger: false, ...options }))
      return { handler, charges }
    }

    describe('a. first call', () => {
      it('claims the key with an IN_PROGRESS record, runs the work, and completes it with the result', async () => {
        const clock = manualClock()
        let seenWhileRunning: unknown
        const handler = middy(async () => {
          seenWhileRunning = await store.get(idOf('pay-1'))
          return { chargeId: 'ch_1' }
        }).use(
          idempotent({
            store,
            key: (e: { paymentId: string }) => e.paymentId,
            ttlSeconds: 600,
            now: clock.now,
          }),
        )

        const before = fixture.requests?.() ?? 0
        await expect(handler({ paymentId: 'pay-1' }, lambdaContext({ remainingMs: 9_000 }))).resolves.toEqual(
          {
            chargeId: 'ch_1',
          },
        )
        // The handler's own store.get counted as one: claim + complete + that read.
        if (fixture.requests) expect(fixture.requests() - before).toBe(3)

        expect(seenWhileRunning).toMatchObject({
          status: 'IN_PROGRESS',
          owner: expect.any(String),
          fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/),
          leaseExpiresAtMs: clock.now() + 9_000,
        })
        const completed = await store.get(idOf('pay-1'))
        expect(completed).toMatchObject({
          status: 'COMPLETED',
          expiresAtSeconds: Math.floor(clock.now() / 1000) + 600,
          result: expect.any(String),
        })
        expect(completed?.leaseExpiresAtMs).toBeUndefined()
      })

      it('makes exactly two store requests on a first call and one on a replay', async () => {
        if (!fixture.requests) return expect(fixture.requests).toBeUndefined()
        const { handler } = chargeHandler()
        const first = fixture.requests()
        await handler({ paymentId: 'pay-2', amount: 100 }, lambdaContext())
        expect(fixture.requests() - first).toBe(2)
        const second = fixture.requests()
        await handler({ paymentId: 'pay-2', amount: 100 }, lambdaContext())
        expect(fixture.requests() - second).toBe(1)
      })

      it('takes the lease from leaseMs when there is no Lambda context, and accepts a remaining time of 0', async () => {
        const clock = manualClock()
        const leases: (number | undefined)[] = []
        const work = makeIdempotent(
          async (input: { id: string }, _context?: unknown) => {
            leases.push((await store.get(idOf(input.id, '', 'work', '')))?.leaseExpiresAtMs)
            leases.push((await store.get(idOf(input.id, '', 'work')))?.leaseExpiresAtMs)
          },
          { store, name: 'work', key: (input) => input.id, leaseMs: 4_000, now: clock.now },
        )
        await work({ id: 'no-context' })
        await work({ id: 'zero-left' }, lambdaContext({ remainingMs: 0 }))
        expect(leases).toEqual([clock.now() + 4_000, undefined, undefined, clock.now()])
      })
    })

    describe('b. replay', () => {
      it('replays the stored result when the same key arrives again, without running the work', async () => {
        const { handler, charges } = chargeHandler()
        const first = await handler({ paymentId: 'pay-3', amount: 100 }, lambdaContext())
        const second = await handler({ paymentId: 'pay-3', amount: 100 }, lambdaContext())
        expect(second).toEqual(first)
        expect(charges).toHaveLength(1)
      })

      it('replays from the local cache with no store request at all', async () => {
        const { handler, charges } = chargeHandler({ localCache: 10 })
        await handler({ paymentId: 'pay-4', amount: 7 }, lambdaContext())
        const before = fixture.requests?.()
        const replayed = await handler({ paymentId: 'pay-4', amount: 7 }, lambdaContext())
        expect(replayed).toEqual({ chargeId: 'ch_1', amount: 7 })
        expect(charges).toHaveLength(1)
        if (before !== undefined) expect(fixture.requests?.()).toBe(before)
      })

      it('answers a different request with the same key from the local cache with a 422', async () => {
        const { handler } = chargeHandler({ localCache: 10 })
        await handler({ paymentId: 'pay-5', amount: 7 }, lambdaContext())
        await expect(handler({ paymentId: 'pay-5', amount: 8 }, lambdaContext())).rejects.toBeInstanceOf(
          IdempotencyKeyReusedError,
        )
      })
    })

    describe('c. undefined results', () => {
      it('replays a handler that returned undefined instead of running it again', async () => {
        let runs = 0
        const handler = middy(async (_event: { id: string }) => {
          runs++
        }).use(idempotent({ store, key: (e: { id: string }) => e.id }))
        await expect(handler({ id: 'msg-1' }, lambdaContext())).resolves.toBeUndefined()
        await expect(handler({ id: 'msg-1' }, lambdaContext())).resolves.toBeUndefined()
        expect(runs).toBe(1)
      })
    })

    describe('d. in progress', () => {
      it('rejects a duplicate with a 409 while the first call runs, with the time left on the lease', async () => {
        const started = gate()
        const finish = gate()
        const { handler } = chargeHandler()
        const slow = middy(async () => {
          started.open()
          await finish.opened
          return 'done'
        }).use(idempotent({ store, key: (e: { paymentId: string }) => e.paymentId }))
        const first = slow({ paymentId: 'pay-6' }, lambdaContext({ remainingMs: 5_000 }))
        await started.opened
        const duplicate = handler({ paymentId: 'pay-6' }, lambdaContext()).catch((error: unknown) => error)
        const error = await duplicate
        expect(error).toBeInstanceOf(IdempotencyInProgressError)
        expect(error).toMatchObject({ statusCode: 409, code: 'IDEMPOTENCY_IN_PROGRESS' })
        expect((error as IdempotencyInProgressError).retryAfterSeconds).toBeGreaterThanOrEqual(1)
        expect((error as IdempotencyInProgressError).retryAfterSeconds).toBeLessThanOrEqual(5)
        finish.open()
        await expect(first).resolves.toBe('done')
      })

      it('in wait mode, waits for the first call and replays its result', async () => {
        let runs = 0
        const work = makeIdempotent(
          async (input: { id: string }) => {
            runs++
            await delay(150)
            return { order: input.id }
          },
          { store, name: 'work', key: (input) => input.id, inProgress: { waitMs: 3_000 } },
        )
        const results = await Promise.all([work({ id: 'o-1' }), delay(20).then(() => work({ id: 'o-1' }))])
        expect(results).toEqual([{ order: 'o-1' }, { order: 'o-1' }])
        expect(runs).toBe(1)
      })

      it('in wait mode, answers 409 once waitMs has passed', async () => {
        const started = gate()
        const finish = gate()
        const work = makeIdempotent(
          async (input: { id: string }) => {
            started.open()
            await finish.opened
            return input.id
          },
          { store, name: 'work', key: (input) => input.id, inProgress: { waitMs: 100 } },
        )
        const first = work({ id: 'o-2' })
        await started.opened
        const waitStarted = performance.now()
        await expect(work({ id: 'o-2' })).rejects.toBeInstanceOf(IdempotencyInProgressError)
        expect(performance.now() - waitStarted).toBeGreaterThanOrEqual(95)
        finish.open()
        await expect(first).resolves.toBe('o-2')
      })
    })

    describe('e. failures', () => {
      it('releases the key when the work throws, passes the original error on, and lets the retry run', async () => {
        const failure = new Error('card declined')
        let attempts = 0
        const handler = middy(async () => {
          attempts++
          if (attempts === 1) throw failure
          return 'charged'
        }).use(idempotent({ store, key: (e: { id: string }) => e.id }))
        await expect(handler({ id: 'pay-7' }, lambdaContext())).rejects.toBe(failure)
        expect(await store.get(idOf('pay-7'))).toBeUndefined()
        await expect(handler({ id: 'pay-7' }, lambdaContext())).resolves.toBe('charged')
        expect(attempts).toBe(2)
      })

      it('releases through makeIdempotent too, and rethrows the same error object', async () => {
        const failure = new TypeError('boom')
        const work = makeIdempotent(
          async (_input: { id: string }) => {
            throw failure
          },
          { store, name: 'work', key: (input) => input.id },
        )
        await expect(work({ id: 'w-1' })).rejects.toBe(failure)
        expect(await store.get(idOf('w-1', '', 'work', ''))).toBeUndefined()
      })
    })

    describe('f. expiry', () => {
      it('treats a record whose expiration has passed as absent, even while it is still stored', async () => {
        const clock = manualClock()
        const { handler, charges } = chargeHandler({ ttlSeconds: 60, now: clock.now })
        await handler({ paymentId: 'pay-8', amount: 1 }, lambdaContext())
        clock.advance(59_000)
        await handler({ paymentId: 'pay-8', amount: 1 }, lambdaContext())
        expect(charges).toHaveLength(1)
        clock.advance(1_000)
        expect(await store.get(idOf('pay-8'))).toMatchObject({ status: 'COMPLETED' })
        await handler({ paymentId: 'pay-8', amount: 1 }, lambdaContext())
        expect(charges).toHaveLength(2)
      })
    })

    describe('g. fencing', () => {
      it('lets a retry take over an expired lease and fences the late completion of the first invocation', async () => {
        const clock = manualClock()
        const logger = recordingLogger()
        const firstStarted = gate()
        const finishFirst = gate()
        let runs = 0
        const handler = middy(async (event: { id: string; attempt: number }) => {
          runs++
          if (event.attempt === 1) {
            firstStarted.open()
            await finishFirst.opened
          }
          return `result of attempt ${event.attempt}`
        }).use(
          idempotent({ store, key: (e: { id: string }) => e.id, fingerprint: false, now: clock.now, logger }),
        )

        const first = handler({ id: 'pay-9', attempt: 1 }, lambdaContext({ remainingMs: 1_000 }))
        await firstStarted.opened
        clock.advance(1_000) // the first invocation's lease has ended: it is presumed dead
        await expect(handler({ id: 'pay-9', attempt: 2 }, lambdaContext())).resolves.toBe(
          'result of attempt 2',
        )
        finishFirst.open()
        await expect(first).resolves.toBe('result of attempt 1')
        expect(runs).toBe(2)
        await expect(handler({ id: 'pay-9', attempt: 3 }, lambdaContext())).resolves.toBe(
          'result of attempt 2',
        )
        expect(logger.lines).toEqual([
          expect.objectContaining({ details: expect.objectContaining({ outcome: 'fenced' }) }),
        ])
      })

      it("never lets a late invocation's release delete its successor's claim", async () => {
        const clock = manualClock()
        const [firstStarted, failFirst, secondStarted, finishSecond] = [gate(), gate(), gate(), gate()]
        const handler = middy(async (event: { attempt: number }) => {
          if (event.attempt === 1) {
            firstStarted.open()
            await failFirst.opened
            throw new Error('late failure')
          }
          secondStarted.open()
          await finishSecond.opened
          return 'second'
        }).use(idempotent({ store, key: () => 'pay-10', fingerprint: false, now: clock.now, logger: false }))

        const first = handler({ attempt: 1 }, lambdaContext({ remainingMs: 1_000 }))
        await firstStarted.opened
        clock.advance(1_000)
        const second = handler({ attempt: 2 }, lambdaContext({ remainingMs: 60_000 }))
        await secondStarted.opened
        const claimed = await store.get(idOf('pay-10'))
        failFirst.open()
        await expect(first).rejects.toThrow('late failure')
        expect(await store.get(idOf('pay-10'))).toEqual(claimed)
        finishSecond.open()
        await expect(second).resolves.toBe('second')
      })

      it('never releases the claim of another invocation when a duplicate is rejected', async () => {
        const started = gate()
        const finish = gate()
        const handler = middy(async () => {
          started.open()
          await finish.opened
          return 'ok'
        }).use(idempotent({ store, key: () => 'pay-11', fingerprint: false }))
        const first = handler({}, lambdaContext())
        await started.opened
        const before = await store.get(idOf('pay-11'))
        await expect(handler({}, lambdaContext())).rejects.toBeInstanceOf(IdempotencyInProgressError)
        expect(await store.get(idOf('pay-11'))).toEqual(before)
        finish.open()
        await first
      })
    })

    describe('h. fingerprints', () => {
      it('answers a reused key with a different payload with a 422 and runs nothing', async () => {
        const { handler, charges } = chargeHandler()
        await handler({ paymentId: 'pay-12', amount: 100 }, lambdaContext())
        const error = await handler({ paymentId: 'pay-12', amount: 200 }, lambdaContext()).catch(
          (e: unknown) => e,
        )
        expect(error).toBeInstanceOf(IdempotencyKeyReusedError)
        expect(error).toMatchObject({ statusCode: 422, code: 'IDEMPOTENCY_KEY_REUSED' })
        expect(charges).toHaveLength(1)
      })

      it('answers 422 while the first request with that key is still in progress', async () => {
        const started = gate()
        const finish = gate()
        const handler = middy(async () => {
          started.open()
          await finish.opened
          return 'ok'
        }).use(idempotent({ store, key: (e: { id: string; amount: number }) => e.id }))
        const first = handler({ id: 'pay-13', amount: 1 }, lambdaContext())
        await started.opened
        await expect(handler({ id: 'pay-13', amount: 2 }, lambdaContext())).rejects.toBeInstanceOf(
          IdempotencyKeyReusedError,
        )
        finish.open()
        await first
      })

      it('ignores object key order and JSON whitespace', async () => {
        const handler = middy(async (event: { body: string }) => JSON.parse(event.body).amount).use(
          idempotent({
            store,
            key: () => 'pay-14',
            fingerprint: (event: { body: string }) => JSON.parse(event.body),
          }),
        )
        await handler({ body: '{"amount":100,"currency":"EUR","meta":{"a":1,"b":2}}' }, lambdaContext())
        await expect(
          handler(
            { body: '{ "currency": "EUR",\n  "meta": {"b": 2, "a": 1}, "amount": 100 }' },
            lambdaContext(),
          ),
        ).resolves.toBe(100)
        const { handler: other } = chargeHandler()
        await other({ paymentId: 'pay-15', amount: 5, note: 'x' }, lambdaContext())
        await expect(other({ note: 'x', amount: 5, paymentId: 'pay-15' }, lambdaContext())).resolves.toEqual({
          chargeId: 'ch_1',
          amount: 5,
        })
      })
    })

    describe('i. namespaces', () => {
      it('keeps the same key apart across functions, wrapped functions and scopes', async () => {
        const { handler, charges } = chargeHandler()
        await handler({ paymentId: 'shared', amount: 1 }, lambdaContext({ functionName: 'fn-a' }))
        await handler({ paymentId: 'shared', amount: 1 }, lambdaContext({ functionName: 'fn-b' }))
        expect(charges).toHaveLength(2)

        const runs: string[] = []
        const options = { store, key: (input: { k: string }) => input.k }
        const refund = makeIdempotent(async (_input: { k: string }) => runs.push('refund'), {
          ...options,
          name: 'refund',
        })
        const capture = makeIdempotent(async (_input: { k: string }) => runs.push('capture'), {
          ...options,
          name: 'capture',
        })
        await refund({ k: 'shared' })
        await capture({ k: 'shared' })
        expect(runs).toEqual(['refund', 'capture'])

        const tenant = chargeHandler({ scope: (event) => event.note })
        await tenant.handler({ paymentId: 'shared', amount: 1, note: 'tenant-a' }, lambdaContext())
        await tenant.handler({ paymentId: 'shared', amount: 1, note: 'tenant-b' }, lambdaContext())
        await tenant.handler({ paymentId: 'shared', amount: 1, note: 'tenant-a' }, lambdaContext())
        expect(tenant.charges.map((c) => c.note)).toEqual(['tenant-a', 'tenant-b'])
      })

      it('stores hashes, never the raw key', async () => {
        const { handler } = chargeHandler()
        await handler({ paymentId: 'jane.doe@example.com', amount: 1 }, lambdaContext())
        const dump = await fixture.dump()
        expect(dump).toContain(idOf('jane.doe@example.com'))
        expect(dump).not.toContain('jane.doe')
      })
    })

    describe('j. results', () => {
      it('replays any JSON-compatible result faithfully', async () => {
        const large = Array.from({ length: 2_000 }, (_, i) => ({
          i,
          name: `item-${i}`,
          tags: ['a', 'b'],
          nested: { deep: { i } },
        }))
        const results: unknown[] = [
          undefined,
          null,
          0,
          '',
          'text',
          false,
          [1, undefined, null, 'x'],
          { a: undefined, b: { c: undefined, d: [undefined] } },
          { at: new Date('2026-11-28T12:00:00.000Z'), invalid: new Date(Number.NaN) },
          { nan: Number.NaN, inf: Number.POSITIVE_INFINITY, negInf: Number.NEGATIVE_INFINITY },
          { '\u0000u': 1, plain: { '\u0000d': 'not a date' } },
          { large },
        ]
        for (const [index, result] of results.entries()) {
          let runs = 0
          const work = makeIdempotent(
            async (_input: number) => {
              runs++
              return structuredClone(result)
            },
            { store, name: 'results' },
          )
          const first = await work(index)
          const replayed = await work(index)
          expect(runs).toBe(1)
          expect(replayed).toStrictEqual(first)
          expect(replayed).toStrictEqual(result)
        }
      })

      it('answers the first call with its own result when it cannot be stored, gives every retry a clear error, and never runs the work again', async () => {
        const circular: Record<string, unknown> = {}
        circular.self = circular
        const unstorable: [string, unknown][] = [
          ['bigint', { total: 10n }],
          ['function', { callback: () => {} }],
          ['Map', { lookup: new Map([[1, 2]]) }],
          ['circular', circular],
          // Random bytes do not compress: too large even after compression.
          ['bytes', { blob: randomBytes(store.maxResultBytes).toString('base64') }],
        ]
        for (const [name, result] of unstorable) {
          let runs = 0
          const logger = recordingLogger()
          const handler = middy(async () => {
            runs++
            return result
          }).use(idempotent({ store, key: () => `unstorable-${name}`, logger }))
          expect(await handler({}, lambdaContext()), name).toBe(result)
          // The operator hears of it once, with the record's id and not the key.
          expect(logger.lines, name).toEqual([
            {
              message: expect.stringMatching(/result could not be stored for replay; it will not run again/),
              details: { id: idOf(`unstorable-${name}`), outcome: 'not-stored' },
            },
          ])
          const retry = await handler({}, lambdaContext()).catch((e: unknown) => e)
          expect(retry, name).toBeInstanceOf(IdempotencyResultError)
          expect((retry as IdempotencyResultError).message).toMatch(/could not be stored/)
          expect(runs, name).toBe(1)
        }
      })
    })

    describe('k. key computed once', () => {
      it('completes its own record when the handler mutates its event', async () => {
        let runs = 0
        const handler = middy(async (event: { id: string; amount: number }) => {
          runs++
          event.id = 'changed'
          event.amount = 0
          return 'done'
        }).use(idempotent({ store, key: (e: { id: string }) => e.id }))
        await handler({ id: 'pay-16', amount: 10 }, lambdaContext())
        expect(await store.get(idOf('pay-16'))).toMatchObject({ status: 'COMPLETED' })
        expect(await store.get(idOf('changed'))).toBeUndefined()
        await expect(handler({ id: 'pay-16', amount: 10 }, lambdaContext())).resolves.toBe('done')
        expect(runs).toBe(1)
      })
    })

    describe('l. concurrency', () => {
      const trials = 10
      const callers = 50

      it(`runs the work exactly once for ${callers} concurrent identical calls, in each of ${trials} trials (middy, reject)`, async () => {
        for (let trial = 0; trial < trials; trial++) {
          let runs = 0
          const handler = middy(async () => {
            runs++
            await delay(50)
            return 'charged'
          }).use(idempotent({ store, key: () => `concurrent-middy-${trial}` }))
          const outcomes = await Promise.allSettled(
            Array.from({ length: callers }, () => handler({}, lambdaContext())),
          )
          expect(runs).toBe(1)
          // Callers that arrive after the completion get the replay, the others the 409.
          for (const outcome of outcomes) {
            if (outcome.status === 'fulfilled') expect(outcome.value).toBe('charged')
            else expect(outcome.reason).toBeInstanceOf(IdempotencyInProgressError)
          }
        }
      })

      it(`runs the work exactly once for ${callers} concurrent identical calls, in each of ${trials} trials (makeIdempotent, wait)`, async () => {
        for (let trial = 0; trial < trials; trial++) {
          let runs = 0
          const work = makeIdempotent(
            async (input: { id: string }) => {
              runs++
              await delay(50)
              return { charged: input.id }
            },
            { store, name: 'work', key: (input) => input.id, inProgress: { waitMs: 10_000 } },
          )
          const results = await Promise.all(
            Array.from({ length: callers }, () => work({ id: `concurrent-fn-${trial}` })),
          )
          expect(runs).toBe(1)
          expect(results).toEqual(
            Array.from({ length: callers }, () => ({ charged: `concurrent-fn-${trial}` })),
          )
        }
      })
    })

    describe('m. bad input', () => {
      it('answers a missing key with a 400 and leaves nothing behind', async () => {
        const { handler, charges } = chargeHandler()
        const error = await handler({ amount: 1 }, lambdaContext()).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(IdempotencyKeyInvalidError)
        expect(error).toMatchObject({ statusCode: 400, code: 'IDEMPOTENCY_KEY_MISSING' })
        expect(charges).toHaveLength(0)
        expect(await fixture.dump()).toBe('[]')
      })

      it('runs without idempotency when the key is missing and required is false', async () => {
        const { handler, charges } = chargeHandler({ required: false })
        await handler({ amount: 1 }, lambdaContext())
        await handler({ amount: 1 }, lambdaContext())
        expect(charges).toHaveLength(2)
      })

      it('rejects keys that are too long, hold control characters or are not strings, naming the problem', async () => {
        const { handler, charges } = chargeHandler()
        const cases: [unknown, RegExp][] = [
          ['k'.repeat(256), /256 characters long; the limit is 255/],
          ['line\nbreak', /control character/],
          ['nul\u0000', /control character/],
          ['del\u007f', /control character/],
          [{ nested: 'object' }, /must be a string, got object/],
          [Number.NaN, /must be a string, got NaN/],
        ]
        for (const [paymentId, message] of cases) {
          const error = await handler({ paymentId, amount: 1 }, lambdaContext()).catch((e: unknown) => e)
          expect(error).toBeInstanceOf(IdempotencyKeyInvalidError)
          expect((error as Error).message).toMatch(message)
        }
        expect(charges).toHaveLength(0)
        await expect(
          handler({ paymentId: 'k'.repeat(255), amount: 1 }, lambdaContext()),
        ).resolves.toBeDefined()
        await expect(handler({ paymentId: 'ключ-🔑', amount: 1 }, lambdaContext())).resolves.toBeDefined()
      })

      it('handles non-object events and a missing Lambda context', async () => {
        let runs = 0
        const handler = middy(async (event: unknown) => {
          runs++
          return event
        }).use(idempotent({ store }))
        for (const event of ['a string', 42, null, [1, 2], true]) {
          await expect(handler(event, undefined as never)).resolves.toEqual(event)
          await expect(handler(event, undefined as never)).resolves.toEqual(event)
        }
        expect(runs).toBe(5)

        const picky = middy(async () => 'ran').use(
          idempotent({
            store,
            key: (event: { headers: Record<string, string> }) => event.headers['idempotency-key'],
          }),
        )
        const error = await picky('not an object' as never, lambdaContext()).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(IdempotencyKeyInvalidError)
        expect(error).toMatchObject({ code: 'IDEMPOTENCY_INPUT_INVALID', statusCode: 400 })
        expect((error as Error).message).toMatch(/could not read the key/)
      })
    })

    describe('abandoned claims', () => {
      it("with abandoned: 'block', keeps a key whose invocation died blocked until an operator releases it", async () => {
        const clock = manualClock()
        const crashed = gate()
        let runs = 0
        const withdraw = makeIdempotent(
          async (input: { id: string; crash?: boolean }, _context?: unknown) => {
            runs++
            if (input.crash) await crashed.opened // never opened: the invocation "dies" mid-work
            return 'withdrawn'
          },
          {
            store,
            name: 'withdraw',
            key: (input) => input.id,
            fingerprint: false,
            abandoned: 'block',
            now: clock.now,
            logger: false,
          },
        )
        void withdraw({ id: 'w-9', crash: true }, lambdaContext({ remainingMs: 1_000 }))
        await until(async () => (await store.get(idOf('w-9', '', 'withdraw'))) !== undefined)
        clock.advance(1_000)

        const blocked = await withdraw({ id: 'w-9' }, lambdaContext()).catch((e: unknown) => e)
        expect(blocked).toBeInstanceOf(IdempotencyAbandonedError)
        expect(blocked).toMatchObject({
          statusCode: 409,
          code: 'IDEMPOTENCY_ABANDONED',
          id: idOf('w-9', '', 'withdraw'),
        })
        clock.advance(10 * 86_400_000) // days later, still blocked: the claim never expires by itself
        await expect(withdraw({ id: 'w-9' }, lambdaContext())).rejects.toBeInstanceOf(
          IdempotencyAbandonedError,
        )
        expect(runs).toBe(1)

        const id = (blocked as IdempotencyAbandonedError).id
        expect(await inspectKey(store, { id }, clock.now())).toMatchObject({
          status: 'IN_PROGRESS',
          abandoned: true,
        })
        expect(await releaseKey(store, { key: 'w-9', functionName: FUNCTION, name: 'withdraw' })).toBe(true)
        await expect(withdraw({ id: 'w-9' }, lambdaContext())).resolves.toBe('withdrawn')
        expect(runs).toBe(2)
        expect(await releaseKey(store, { id })).toBe(false) // completed records are left alone
      })

      it('with the default, lets the next retry take over a dead invocation', async () => {
        const clock = manualClock()
        let runs = 0
        const work = makeIdempotent(
          async (input: { crash?: boolean }, _context?: unknown) => {
            runs++
            if (input.crash) await new Promise(() => {})
            return 'done'
          },
          { store, name: 'work', key: () => 'w-10', fingerprint: false, now: clock.now },
        )
        void work({ crash: true }, lambdaContext({ remainingMs: 1_000 }))
        await until(async () => (await store.get(idOf('w-10', '', 'work'))) !== undefined)
        clock.advance(1_000)
        await expect(work({}, lambdaContext())).resolves.toBe('done')
        expect(runs).toBe(2)
      })
    })

    describe('large results', () => {
      it('stores a 1 MB JSON result compressed and replays it exactly', async () => {
        const rows = Array.from({ length: 10_000 }, (_, i) => ({
          orderId: `ord_${i}`,
          customer: `cus_${i % 97}`,
          amount: (i * 37) % 10_000,
          currency: i % 2 ? 'EUR' : 'USD',
          createdAt: new Date(Date.UTC(2026, 10, 28, 0, 0, i)).toISOString(),
        }))
        const report = { rows, total: rows.length }
        expect(JSON.stringify(report).length).toBeGreaterThan(1_000_000)
        let runs = 0
        const work = makeIdempotent(
          async (_input: string) => {
            runs++
            return report
          },
          { store, name: 'report' },
        )
        await work('november')
        const stored = await store.get(idOf(hashValue('november'), '', 'report', ''))
        expect(Buffer.byteLength(stored?.result ?? '')).toBeLessThan(store.maxResultBytes)
        await expect(work('november')).resolves.toStrictEqual(report)
        expect(runs).toBe(1)
      })
    })

    describe('observability', () => {
      it('reports every outcome to onEvent with the hashed id only', async () => {
        const events: { outcome: string; id: string }[] = []
        let fail = true
        const handler = middy(async () => {
          if (fail) throw new Error('declined')
          return 'ok'
        }).use(
          idempotent({
            store,
            key: (e: { k: string; n?: number }) => e.k,
            onEvent: (event) => events.push(event),
            logger: false,
          }),
        )
        await handler({ k: 'secret-key' }, lambdaContext()).catch(() => {})
        fail = false
        await handler({ k: 'secret-key' }, lambdaContext())
        await handler({ k: 'secret-key' }, lambdaContext())
        await handler({ k: 'secret-key', n: 2 }, lambdaContext()).catch(() => {})
        expect(events.map((e) => e.outcome)).toEqual([
          'claimed',
          'released',
          'claimed',
          'completed',
          'replayed',
          'mismatch',
        ])
        expect(new Set(events.map((e) => e.id))).toEqual(new Set([idOf('secret-key')]))
        expect(JSON.stringify(events)).not.toContain('secret-key')
      })

      it('keeps going when the onEvent hook throws', async () => {
        const logger = recordingLogger()
        const work = makeIdempotent(async (n: number) => n * 2, {
          store,
          name: 'double',
          logger,
          onEvent: () => {
            throw new Error('metrics backend down')
          },
        })
        await expect(work(21)).resolves.toBe(42)
        expect(logger.lines[0]?.message).toMatch(/onEvent hook threw/)
      })
    })

    describe('the store interface', () => {
      it('lets exactly one of many concurrent claims win', async () => {
        const nowMs = Date.now()
        const outcomes = await Promise.all(
          Array.from({ length: 25 }, (_, i) => store.claim(claimRequest('race', `owner-${i}`, nowMs))),
        )
        expect(outcomes.filter((o) => o.claimed)).toHaveLength(1)
        for (const outcome of outcomes) {
          if (!outcome.claimed) expect(outcome.existing).toMatchObject({ id: 'race', status: 'IN_PROGRESS' })
        }
      })

      it('reports the holding record, then frees it once its lease or expiry passes', async () => {
        const nowMs = Date.now()
        await store.claim(claimRequest('s-1', 'a', nowMs))
        expect(await store.claim(claimRequest('s-1', 'b', nowMs + 999))).toMatchObject({
          claimed: false,
          existing: { owner: 'a', leaseExpiresAtMs: nowMs + 1_000, fingerprint: 'f' },
        })
        expect(await store.claim(claimRequest('s-1', 'b', nowMs + 1_000))).toEqual({ claimed: true })
        expect(await store.complete('s-1', 'b', '"r"', Math.floor(nowMs / 1000) + 5)).toBe(true)
        // Completed: the lease no longer matters, only the expiry does.
        expect((await store.claim(claimRequest('s-1', 'c', nowMs + 4_000))).claimed).toBe(false)
        expect((await store.claim(claimRequest('s-1', 'c', nowMs + 6_000))).claimed).toBe(true)
      })

      it('keeps an abandoned claim when asked to, while still freeing an expired record', async () => {
        const nowMs = Date.now()
        await store.claim(claimRequest('s-3', 'a', nowMs))
        const late = nowMs + 5_000
        expect(await store.claim(claimRequest('s-3', 'b', late, { keepAbandoned: true }))).toMatchObject({
          claimed: false,
          existing: { owner: 'a', status: 'IN_PROGRESS' },
        })
        expect((await store.claim(claimRequest('s-3', 'b', late))).claimed).toBe(true)
        expect(
          (await store.claim(claimRequest('s-3', 'c', nowMs + 70_000, { keepAbandoned: true }))).claimed,
        ).toBe(true)
      })

      it('completes and releases only for the owner of an IN_PROGRESS record', async () => {
        const nowMs = Date.now()
        await store.claim(claimRequest('s-2', 'a', nowMs))
        expect(await store.complete('s-2', 'intruder', '"r"', 1)).toBe(false)
        expect(await store.release('s-2', 'intruder')).toBe(false)
        expect(await store.complete('s-2', 'a', '"r"', Math.floor(nowMs / 1000) + 60)).toBe(true)
        expect(await store.release('s-2', 'a')).toBe(false)
        expect(await store.complete('s-2', 'a', '"again"', 1)).toBe(false)
        expect(await store.get('s-2')).toMatchObject({ status: 'COMPLETED', result: '"r"' })
        expect(await store.release('missing', 'a')).toBe(false)
        expect(await store.complete('missing', 'a', '"r"', 1)).toBe(false)
      })

      it("lets a reentrant claim re-enter its own owner's IN_PROGRESS record, renewing its lease", async () => {
        const nowMs = Date.now()
        const reentrant = { reentrant: true }
        await store.claim(claimRequest('r-1', 'execution-a', nowMs, reentrant))
        // A replay of the same durable execution, before and after its lease ended.
        const replay = { ...reentrant, leaseExpiresAtMs: nowMs + 7_000 }
        expect(await store.claim(claimRequest('r-1', 'execution-a', nowMs + 500, replay))).toEqual({
          claimed: true,
        })
        expect(await store.get('r-1')).toMatchObject({
          status: 'IN_PROGRESS',
          owner: 'execution-a',
          leaseExpiresAtMs: nowMs + 7_000,
        })
        expect(
          await store.claim(
            claimRequest('r-1', 'execution-a', nowMs + 9_000, {
              ...replay,
              leaseExpiresAtMs: nowMs + 20_000,
            }),
          ),
        ).toEqual({ claimed: true })
        // Another execution, reentrant or not, still meets a claim in progress.
        for (const other of [{}, reentrant]) {
          expect(await store.claim(claimRequest('r-1', 'execution-b', nowMs + 10_000, other))).toMatchObject({
            claimed: false,
            existing: { owner: 'execution-a', status: 'IN_PROGRESS', leaseExpiresAtMs: nowMs + 20_000 },
          })
        }
        expect(await store.complete('r-1', 'execution-a', '"done"', Math.floor(nowMs / 1000) + 60)).toBe(true)
        // Completed: even its own owner replays it rather than claiming it again.
        expect(
          await store.claim(claimRequest('r-1', 'execution-a', nowMs + 11_000, reentrant)),
        ).toMatchObject({
          claimed: false,
          existing: { owner: 'execution-a', status: 'COMPLETED', result: '"done"' },
        })
      })

      it('re-enters only when asked to, and also when abandoned claims are kept', async () => {
        const nowMs = Date.now()
        await store.claim(claimRequest('r-2', 'execution-a', nowMs))
        // Without `reentrant`, the same owner meets its own live claim (a plain call never re-enters).
        expect(await store.claim(claimRequest('r-2', 'execution-a', nowMs + 500))).toMatchObject({
          claimed: false,
          existing: { owner: 'execution-a' },
        })
        const blocking = { keepAbandoned: true }
        // The lease ended: a kept abandoned claim blocks others, but its own execution re-enters it.
        expect((await store.claim(claimRequest('r-2', 'execution-b', nowMs + 5_000, blocking))).claimed).toBe(
          false,
        )
        expect(
          await store.claim(
            claimRequest('r-2', 'execution-a', nowMs + 5_000, { ...blocking, reentrant: true }),
          ),
        ).toEqual({ claimed: true })
        expect(
          (
            await store.claim(
              claimRequest('r-2', 'execution-b', nowMs + 5_500, { ...blocking, reentrant: true }),
            )
          ).claimed,
        ).toBe(false)
        expect(await store.release('r-2', 'execution-a')).toBe(true)
        expect(await store.get('r-2')).toBeUndefined()
      })
    })
  })
}
