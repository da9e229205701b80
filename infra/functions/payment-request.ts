import type { MiddlewareObj } from '@middy/core'
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, APIGatewayProxyResult } from 'aws-lambda'

/** `POST /payments` through an HTTP API (payload 2.0) or a REST API (payload 1.0). */
export type PaymentEvent = APIGatewayProxyEventV2 | APIGatewayProxyEvent

/** What a client sends: amounts in minor units, one line of stock to reserve. */
export interface PaymentRequest {
  amount: number
  currency: string
  customer: string
  sku: string
  quantity: number
}

/** The largest body accepted, in bytes after base64 decoding: a payment is about 100 bytes. */
export const MAX_BODY_BYTES = 8 * 1024

/** The largest `amount`, in minor units: 999,999.99 in a two-decimal currency (Stripe's bound). */
export const MAX_AMOUNT = 99_999_999

/** The currencies the sample charges in (ISO 4217). */
export const CURRENCIES: readonly string[] = ['EUR', 'USD', 'GBP', 'CHF', 'JPY']

/** How many characters of an offending value an error message shows at most. */
export const ECHO_LENGTH = 40

/** A refusal: the status, the field it is about (when one is) and a sentence for people. */
export interface PaymentRequestProblem {
  status: 400 | 403 | 413
  field: string | undefined
  detail: string
}

// `customer` and `sku`: 1 to 64 characters, no control or format characters (C0, C1, DEL,
// zero-width and bidi controls), no unpaired surrogates, nothing unassigned.
const TEXT = /^\P{C}{1,64}$/u

/**
 * A value as an error message shows it: JSON, cut to {@link ECHO_LENGTH} characters with the full
 * length named, so that a megabyte `customer` costs a short message and not a megabyte response.
 * Control characters come out escaped by `JSON.stringify`.
 *
 * @example
 * echo('x'.repeat(1000)) // '"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx… (1002 characters)'
 */
export const echo = (value: unknown): string => {
  const text = value === undefined ? 'nothing' : (JSON.stringify(value) ?? String(value))
  return text.length <= ECHO_LENGTH ? text : `${text.slice(0, ECHO_LENGTH - 1)}… (${text.length} characters)`
}

const refuse = (field: string | undefined, detail: string, status: 400 | 403 | 413 = 400) => ({
  status,
  field,
  detail,
})

/**
 * The customer an authorizer vouches for: the JWT or Cognito `sub`, or a Lambda authorizer's
 * `principalId`; `undefined` without an authorizer; `null` when there is one but it names no
 * customer (refused: the body must not choose the customer for an authenticated caller).
 *
 * @example
 * authenticatedCustomer(event) // 'cus_42' for a JWT whose sub is cus_42
 */
export const authenticatedCustomer = (event: PaymentEvent): string | null | undefined => {
  const authorizer = (
    event.requestContext as {
      authorizer?: {
        jwt?: { claims?: Record<string, unknown> }
        claims?: Record<string, unknown>
        principalId?: unknown
      } | null
    }
  ).authorizer
  if (authorizer === undefined || authorizer === null) return undefined
  const customer = authorizer.jwt?.claims?.sub ?? authorizer.claims?.sub ?? authorizer.principalId
  return typeof customer === 'string' && customer !== '' ? customer : null
}

/**
 * Reads and checks the body of a payment request: its size, its JSON, each field (naming the
 * first one that is wrong, with a capped echo of its value), and the customer: with an authorizer
 * the customer is the caller, and a body naming another one is refused.
 *
 * @example
 * const request = readPaymentRequest(event)
 * if ('detail' in request) return paymentProblem(request)
 */
export const readPaymentRequest = (event: PaymentEvent): PaymentRequest | PaymentRequestProblem => {
  const raw = event.body ?? ''
  // A base64 body decodes to 3/4 of its length: check the cheap bound before decoding anything.
  const bytes = event.isBase64Encoded ? Math.floor((raw.length * 3) / 4) : Buffer.byteLength(raw, 'utf8')
  if (bytes > MAX_BODY_BYTES) {
    return refuse(
      undefined,
      `the body is ${bytes} bytes; a payment request takes at most ${MAX_BODY_BYTES}`,
      413,
    )
  }
  let value: Record<string, unknown> | null
  try {
    value = JSON.parse(event.isBase64Encoded ? Buffer.from(raw, 'base64').toString('utf8') : raw)
  } catch {
    return refuse(undefined, 'the body must be JSON: {"amount", "currency", "customer", "sku", "quantity"}')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return refuse(undefined, `the body must be a JSON object, got ${echo(value)}`)
  }
  const { amount, currency, sku, quantity } = value
  if (!Number.isSafeInteger(amount) || (amount as number) <= 0 || (amount as number) > MAX_AMOUNT) {
    return refuse(
      'amount',
      `amount must be an integer from 1 to ${MAX_AMOUNT} (minor units), got ${echo(amount)}`,
    )
  }
  if (typeof currency !== 'string' || !CURRENCIES.includes(currency)) {
    return refuse('currency', `currency must be one of ${CURRENCIES.join(', ')}, got ${echo(currency)}`)
  }
  const caller = authenticatedCustomer(event)
  if (caller === null) {
    return refuse(
      undefined,
      'the authorizer names no customer (no sub or principalId): the payment has no owner',
      403,
    )
  }
  const customer = value.customer ?? caller
  if (typeof customer !== 'string' || !TEXT.test(customer)) {
    return refuse(
      'customer',
      `customer must be 1 to 64 characters without control characters, got ${echo(customer)}`,
    )
  }
  if (caller !== undefined && customer !== caller) {
    return refuse('customer', `customer ${echo(customer)} is not the authenticated caller`, 403)
  }
  if (typeof sku !== 'string' || !TEXT.test(sku)) {
    return refuse('sku', `sku must be 1 to 64 characters without control characters, got ${echo(sku)}`)
  }
  if (!Number.isSafeInteger(quantity) || (quantity as number) < 1 || (quantity as number) > 100) {
    return refuse('quantity', `quantity must be an integer from 1 to 100, got ${echo(quantity)}`)
  }
  return { amount: amount as number, currency, customer, sku, quantity: quantity as number }
}

const titles = { 400: 'Invalid payment request', 403: 'Forbidden', 413: 'Payment request too large' }

/**
 * An `application/problem+json` response (RFC 9457) for a refused request; `field` names the
 * member that is wrong.
 *
 * @example
 * paymentProblem({ status: 400, field: 'amount', detail: 'amount must be ...' })
 */
export const paymentProblem = (problem: PaymentRequestProblem): APIGatewayProxyResult => ({
  statusCode: problem.status,
  headers: { 'content-type': 'application/problem+json' },
  body: JSON.stringify({
    type: 'about:blank',
    title: titles[problem.status],
    status: problem.status,
    detail: problem.detail,
    ...(problem.field === undefined ? {} : { field: problem.field }),
  }),
})

/**
 * A Middy `before` step that answers a request {@link readPaymentRequest} refuses before any
 * later middleware runs. Registered ahead of `idempotent()`, it keeps validation answers out of the
 * idempotency table: no key is claimed for them, nothing is stored, and a client that fixes its
 * body may retry with the same key.
 *
 * @example
 * middy(charge).use(validatePaymentRequest()).use(idempotent({ store }))
 */
export const validatePaymentRequest = (): MiddlewareObj<PaymentEvent, APIGatewayProxyResult> => ({
  before: async (request) => {
    const read = readPaymentRequest(request.event)
    return 'detail' in read ? paymentProblem(read) : undefined
  },
})
