import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import {
  IdempotencyConfigError,
  IdempotencyKeyReusedError,
  idempotentMethod,
  MemoryStore,
  recordId,
} from '../../src/index.js'
import { gate, lambdaContext } from '../helpers/lambda.js'

type Payment = { paymentId: string; amount: number }
const byPaymentId = (payment: Payment) => payment.paymentId
const idOf = (name: string, key: string, functionName = '') =>
  recordId({ functionName, name, scope: '' }, key)

describe('idempotentMethod', () => {
  it('is compiled as a standard decorator: the project does not turn experimentalDecorators on', () => {
    const tsconfig = readFileSync(new URL('../../tsconfig.json', import.meta.url), 'utf8')
    expect(tsconfig).not.toContain('experimentalDecorators')
  })

  it('runs the method once per key and replays its result, with this bound to the instance', async () => {
    const store = new MemoryStore()
    class Payments {
      readonly charges: Payment[] = []
      constructor(readonly gateway: string) {}

      @idempotentMethod({ store, key: byPaymentId, logger: false })
      async charge(payment: Payment) {
        this.charges.push(payment)
        return { chargeId: `${this.gateway}_${this.charges.length}`, amount: payment.amount }
      }
    }
    const payments = new Payments('stripe')
    const first = await payments.charge({ paymentId: 'p-1', amount: 100 })
    const again = await payments.charge({ paymentId: 'p-1', amount: 100 })
    expect(first).toEqual({ chargeId: 'stripe_1', amount: 100 })
    expect(again).toEqual(first)
    expect(payments.charges).toHaveLength(1)
    await expect(payments.charge({ paymentId: 'p-1', amount: 200 })).rejects.toBeInstanceOf(
      IdempotencyKeyReusedError,
    )
    expect(payments.charges).toHaveLength(1)
  })

  it('runs the method once for 20 concurrent identical calls', async () => {
    const store = new MemoryStore()
    const open = gate()
    let runs = 0
    class Payments {
      @idempotentMethod({ store, key: byPaymentId, inProgress: { waitMs: 5_000 }, logger: false })
      async charge(payment: Payment) {
        runs++
        await open.opened
        return payment.amount
      }
    }
    const payments = new Payments()
    const calls = Array.from({ length: 20 }, () => payments.charge({ paymentId: 'p-1', amount: 5 }))
    open.open()
    expect(await Promise.all(calls)).toEqual(Array(20).fill(5))
    expect(runs).toBe(1)
  })

  it('keeps one namespace per class and method: Class#method, or Class.method when static', async () => {
    const store = new MemoryStore()
    class Payments {
      @idempotentMethod({ store, key: byPaymentId, logger: false })
      async charge(payment: Payment) {
        return `charge ${payment.amount}`
      }

      @idempotentMethod({ store, key: byPaymentId, logger: false })
      async refund(payment: Payment) {
        return `refund ${payment.amount}`
      }

      @idempotentMethod({ store, key: byPaymentId, logger: false })
      static async charge(payment: Payment) {
        return `static charge ${payment.amount}`
      }
    }
    class Refunds {
      @idempotentMethod({ store, key: byPaymentId, logger: false })
      async charge(payment: Payment) {
        return `other class ${payment.amount}`
      }
    }
    const payment = { paymentId: 'p-1', amount: 1 }
    expect(await new Payments().charge(payment)).toBe('charge 1')
    expect(await new Payments().refund(payment)).toBe('refund 1')
    expect(await Payments.charge(payment)).toBe('static charge 1')
    expect(await new Refunds().charge(payment)).toBe('other class 1')
    for (const name of ['Payments#charge', 'Payments#refund', 'Payments.charge', 'Refunds#charge']) {
      expect(await store.get(idOf(name, 'p-1'))).toMatchObject({ status: 'COMPLETED' })
    }
    expect(store.records()).toHaveLength(4)
  })

  it('names records after the class that declares the method, so a subclass shares them', async () => {
    const store = new MemoryStore()
    let runs = 0
    class Payments {
      @idempotentMethod({ store, key: byPaymentId, logger: false })
      async charge(payment: Payment) {
        runs++
        return payment.amount
      }
    }
    class CardPayments extends Payments {}
    await new CardPayments().charge({ paymentId: 'p-1', amount: 1 })
    await new Payments().charge({ paymentId: 'p-1', amount: 1 })
    expect(runs).toBe(1)
    expect(await store.get(idOf('Payments#charge', 'p-1'))).toMatchObject({ status: 'COMPLETED' })
  })

  it('takes the Lambda context from the second argument, like makeIdempotent', async () => {
    const store = new MemoryStore()
    class Handler {
      @idempotentMethod({ store, key: byPaymentId, logger: false })
      async handle(payment: Payment, _context?: unknown) {
        return payment.amount
      }
    }
    await new Handler().handle({ paymentId: 'p-1', amount: 1 }, lambdaContext({ functionName: 'payments' }))
    expect(await store.get(idOf('Handler#handle', 'p-1', 'payments'))).toMatchObject({ status: 'COMPLETED' })
  })

  it('uses the name it is given, and refuses a call it cannot attribute to a class', async () => {
    const store = new MemoryStore()
    class Payments {
      @idempotentMethod({ store, key: byPaymentId, name: 'charge-v1', logger: false })
      async charge(payment: Payment) {
        return payment.amount
      }
    }
    await new Payments().charge({ paymentId: 'p-1', amount: 1 })
    expect(await store.get(idOf('charge-v1', 'p-1'))).toMatchObject({ status: 'COMPLETED' })

    // Called detached from its instance, the method cannot tell its class: a clear error, not a
    // record under a made-up name.
    class Refunds {
      @idempotentMethod({ store, key: byPaymentId, logger: false })
      async refund(payment: Payment) {
        return payment.amount
      }
    }
    const { refund } = new Refunds()
    await expect(refund({ paymentId: 'p-1', amount: 1 })).rejects.toThrow(
      /option "name" must be set for refund: its class has no name \(an anonymous class\), or the method was called detached from it/,
    )
    expect(store.records()).toHaveLength(1)
  })

  it('refuses bad options when the class is defined, naming the option', () => {
    const store = new MemoryStore()
    expect(() => {
      class Payments {
        @idempotentMethod({ store, key: byPaymentId, ttlSeconds: -1 })
        async charge(payment: Payment) {
          return payment.amount
        }
      }
      return Payments
    }).toThrow(IdempotencyConfigError)
    expect(() => {
      class Payments {
        @idempotentMethod({ store, key: byPaymentId })
        async #charge(payment: Payment) {
          return payment.amount
        }
        run = (payment: Payment) => this.#charge(payment)
      }
      return Payments
    }).toThrow(/option "name" must be set for the private or symbol-named method #charge/)
  })
})
