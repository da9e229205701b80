import { randomUUID } from 'node:crypto'
import { threadId } from 'node:worker_threads'
import { canonicalJson } from '../../src/index.js'

/** What the sample charges. Amounts are in minor units (cents). */
export interface ChargeRequest {
  amount: number
  currency: string
  customer: string
}

/** A charge as the provider reports it. */
export interface Charge extends ChargeRequest {
  id: string
  createdAt: string
}

/**
 * How the simulated provider answers. The local page changes it at run time to show a slow
 * provider (a retry meets the key in progress) and a lost answer (a retry meets the provider's own
 * idempotency).
 */
export interface ProviderBehaviour {
  /** How long a new charge takes. */
  latencyMs: number
  /** Every call fails as a network timeout would, after the charge was made (the answer is lost). */
  timeout: boolean
}

/** Options of {@link SimulatedPaymentProvider}. */
export interface SimulatedPaymentProviderOptions {
  /** How long a new charge takes, as a network call to a provider would. @default 100 */
  latencyMs?: number
}

/**
 * A stand-in for a payment provider that, like Stripe or Adyen, accepts an idempotency key of its
 * own: the same key with the same request returns the charge it already made; with another
 * request it is refused. Charges live in this process only (one Lambda instance in AWS): enough
 * to show the second line of defence, not a ledger.
 *
 * @example
 * const provider = new SimulatedPaymentProvider({ latencyMs: 0 })
 * const charge = await provider.charge({ amount: 4200, currency: 'EUR', customer: 'cus_1' }, 'key-1')
 */
export class SimulatedPaymentProvider {
  readonly #charges = new Map<string, { request: string; charge: Promise<Charge> }>()
  readonly #made: Charge[] = []
  /** How the provider answers from now on; change it to simulate a slow provider or a lost answer. */
  behaviour: ProviderBehaviour

  constructor(options: SimulatedPaymentProviderOptions = {}) {
    this.behaviour = { latencyMs: options.latencyMs ?? 100, timeout: false }
  }

  /** Charges once per `idempotencyKey`; a repeated key returns the same charge. */
  async charge(request: ChargeRequest, idempotencyKey: string): Promise<Charge & { replayed: boolean }> {
    const { timeout } = this.behaviour
    const fingerprint = canonicalJson(request)
    const existing = this.#charges.get(idempotencyKey)
    if (existing !== undefined) {
      if (existing.request !== fingerprint) {
        throw new PaymentProviderKeyConflictError(idempotencyKey)
      }
      const charge = await existing.charge
      if (timeout) throw timedOut()
      return { ...charge, replayed: true }
    }
    const charge = this.#create(request)
    this.#charges.set(idempotencyKey, { request: fingerprint, charge })
    charge.catch(() => this.#charges.delete(idempotencyKey))
    const made = await charge
    if (timeout) throw timedOut()
    return { ...made, replayed: false }
  }

  /** How many distinct charges this provider made: what the customer's statement would show. */
  get chargeCount(): number {
    return this.#charges.size
  }

  /** The charges made so far, oldest first. */
  get charges(): readonly Charge[] {
    return this.#made
  }

  async #create(request: ChargeRequest): Promise<Charge> {
    await new Promise((resolve) => setTimeout(resolve, this.behaviour.latencyMs))
    const charge = {
      id: `ch_${randomUUID().replaceAll('-', '').slice(0, 24)}`,
      createdAt: new Date().toISOString(),
      ...request,
    }
    this.#made.push(charge)
    return charge
  }
}

/**
 * The provider refused a key it already used for another charge (Stripe answers such a request
 * with an `idempotency_error`): nothing was charged by this call.
 *
 * @example
 * if (error instanceof PaymentProviderKeyConflictError) return problem(422, ...)
 */
export class PaymentProviderKeyConflictError extends Error {
  constructor(idempotencyKey: string) {
    super(`payment provider: idempotency key ${idempotencyKey} was used for another charge`)
    this.name = 'PaymentProviderKeyConflictError'
  }
}

// The charge exists; only its answer is lost, as when a network call times out.
const timedOut = () => new Error('payment provider: the call timed out (the charge may have been made)')

/**
 * The provider as a function in a sandbox reaches it in a local run: the simulated provider lives
 * in the local runner's process (it outlives any sandbox, as a real provider outlives a Lambda
 * instance) and answers `POST {url}/charges` (see `infra/local/payment-provider-service.ts`).
 *
 * @example
 * const provider = new PaymentProviderClient(process.env.PAYMENT_PROVIDER_URL)
 * await provider.charge({ amount: 4200, currency: 'EUR', customer: 'cus_1' }, 'key-1')
 */
export class PaymentProviderClient {
  constructor(readonly url: string) {}

  /** Charges once per `idempotencyKey`, as {@link SimulatedPaymentProvider.charge}. */
  async charge(request: ChargeRequest, idempotencyKey: string): Promise<Charge & { replayed: boolean }> {
    const response = await fetch(`${this.url}/charges`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'idempotency-key': idempotencyKey,
        // Which sandbox calls: the chaos run may end it right after the charge (a lost answer).
        'x-local-thread': String(threadId),
      },
      body: JSON.stringify(request),
    })
    const body = (await response.json()) as (Charge & { replayed: boolean }) | { message: string }
    // 409: the key was used for another charge, the same typed refusal as the provider in process.
    if (response.status === 409) throw new PaymentProviderKeyConflictError(idempotencyKey)
    if (!response.ok || 'message' in body) throw new Error((body as { message: string }).message)
    return body
  }
}

/**
 * The provider the payment function charges through: the local run's provider service when
 * `PAYMENT_PROVIDER_URL` is set, otherwise one simulated in this instance.
 *
 * @example
 * export const paymentProvider = paymentProviderFrom(process.env)
 */
export const paymentProviderFrom = (
  env: NodeJS.ProcessEnv,
): SimulatedPaymentProvider | PaymentProviderClient =>
  env.PAYMENT_PROVIDER_URL
    ? new PaymentProviderClient(env.PAYMENT_PROVIDER_URL)
    : new SimulatedPaymentProvider({ latencyMs: Number(env.PROVIDER_LATENCY_MS ?? 100) })
