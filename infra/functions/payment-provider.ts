import { randomUUID } from 'node:crypto'
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
  readonly #latencyMs: number

  constructor(options: SimulatedPaymentProviderOptions = {}) {
    this.#latencyMs = options.latencyMs ?? 100
  }

  /** Charges once per `idempotencyKey`; a repeated key returns the same charge. */
  async charge(request: ChargeRequest, idempotencyKey: string): Promise<Charge & { replayed: boolean }> {
    const fingerprint = canonicalJson(request)
    const existing = this.#charges.get(idempotencyKey)
    if (existing !== undefined) {
      if (existing.request !== fingerprint) {
        throw new Error(`payment provider: idempotency key ${idempotencyKey} was used for another charge`)
      }
      return { ...(await existing.charge), replayed: true }
    }
    const charge = this.#create(request)
    this.#charges.set(idempotencyKey, { request: fingerprint, charge })
    charge.catch(() => this.#charges.delete(idempotencyKey))
    return { ...(await charge), replayed: false }
  }

  /** How many distinct charges this provider made: what the customer's statement would show. */
  get chargeCount(): number {
    return this.#charges.size
  }

  async #create(request: ChargeRequest): Promise<Charge> {
    await new Promise((resolve) => setTimeout(resolve, this.#latencyMs))
    return {
      id: `ch_${randomUUID().replaceAll('-', '').slice(0, 24)}`,
      createdAt: new Date().toISOString(),
      ...request,
    }
  }
}
