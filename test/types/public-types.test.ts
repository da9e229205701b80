import middy from '@middy/core'
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyResultV2,
  Context,
  SQSBatchResponse,
  SQSEvent,
  SQSRecord,
} from 'aws-lambda'
import { describe, expectTypeOf, it } from 'vitest'
import {
  type IdempotencyEvent,
  type IdempotencyStore,
  idempotent,
  idempotentSqsHandler,
  MemoryStore,
  makeIdempotent,
} from '../../src/index.js'

// These assertions are checked by `tsc` (npm run typecheck, part of npm test); running them only
// proves the file loads. A `@ts-expect-error` that stops being an error fails the typecheck.

const store: IdempotencyStore = new MemoryStore()
type Payment = { paymentId: string; amount: number }
type Charge = { chargeId: string; amount: number }

describe('public types', () => {
  it('keeps the event and result types of a middy handler through idempotent()', () => {
    const handler = middy<Payment, Charge>(async (payment: Payment) => ({
      chargeId: 'ch_1',
      amount: payment.amount,
    })).use(
      idempotent<Payment, Charge>({
        store,
        key: (event) => {
          expectTypeOf(event).toEqualTypeOf<Payment>()
          return event.paymentId
        },
        fingerprint: (event) => event.amount,
        scope: (event, context) => {
          expectTypeOf(context).toEqualTypeOf<Context | undefined>()
          return event.paymentId
        },
      }),
    )
    expectTypeOf(handler).parameter(0).toEqualTypeOf<Payment>()
    expectTypeOf(handler).returns.resolves.toEqualTypeOf<Charge>()
  })

  it('types an HTTP handler with its API Gateway event and result', () => {
    const handler = middy<APIGatewayProxyEventV2, APIGatewayProxyResultV2>(async () => ({
      statusCode: 201,
    })).use(
      idempotent<APIGatewayProxyEventV2, APIGatewayProxyResultV2>({ store, http: { methods: ['POST'] } }),
    )
    expectTypeOf(handler).parameter(0).toEqualTypeOf<APIGatewayProxyEventV2>()
  })

  it('keeps the arguments and result of a function through makeIdempotent', () => {
    const charge = async (payment: Payment, _context?: Context): Promise<Charge> => ({
      chargeId: 'ch_1',
      amount: payment.amount,
    })
    const chargeOnce = makeIdempotent(charge, { store, key: (payment) => payment.paymentId })
    expectTypeOf(chargeOnce).toEqualTypeOf<(payment: Payment, _context?: Context) => Promise<Charge>>()
    expectTypeOf(chargeOnce).parameter(0).toEqualTypeOf<Payment>()
    expectTypeOf(chargeOnce).returns.resolves.toEqualTypeOf<Charge>()
  })

  it('gives the SQS batch handler the typed body, the record, and a batch response', () => {
    const handler = idempotentSqsHandler<Payment>(
      async (body, record) => {
        expectTypeOf(body).toEqualTypeOf<Payment>()
        expectTypeOf(record).toEqualTypeOf<SQSRecord>()
      },
      { store, key: (body) => body.paymentId },
    )
    expectTypeOf(handler).toEqualTypeOf<(event: SQSEvent, context: Context) => Promise<SQSBatchResponse>>()
  })

  it('hands onEvent a typed event', () => {
    idempotent({
      store,
      onEvent: (event) => {
        expectTypeOf(event).toEqualTypeOf<IdempotencyEvent>()
      },
    })
  })

  it('makes a misspelt or mistyped option a type error', () => {
    // Never called: these calls would throw at run time, which is the other half of the promise.
    const misspelt = () => {
      // @ts-expect-error `ttlSecond` is not an option (it is ttlSeconds)
      idempotent({ store, ttlSecond: 60 })
      // @ts-expect-error `leaseMS` is not an option (it is leaseMs)
      makeIdempotent(async (n: number) => n, { store, leaseMS: 1_000 })
      // @ts-expect-error `concurency` is not an option (it is concurrency)
      idempotentSqsHandler(async () => {}, { store, concurency: 2 })
      // @ts-expect-error ttlSeconds is a number of seconds, not a string
      idempotent({ store, ttlSeconds: '60' })
      // @ts-expect-error inProgress is 'reject' or { waitMs }
      idempotent({ store, inProgress: 'wait' })
      // @ts-expect-error a store is required
      makeIdempotent(async (n: number) => n, { key: (n) => n })
      // @ts-expect-error the key selector receives the function's first argument, a Payment
      makeIdempotent(async (payment: Payment) => payment, { store, key: (payment: string) => payment })
    }
    expectTypeOf(misspelt).toBeFunction()
  })
})
