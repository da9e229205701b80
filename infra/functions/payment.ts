import { randomUUID } from 'node:crypto'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import middy from '@middy/core'
import type { APIGatewayProxyResult, Context } from 'aws-lambda'
import { currentClaim, DynamoDBStore, hashValue, idempotent } from '../../src/index.js'
import { endpointOption, readEnvironment } from './environment.js'
import { emfMetrics } from './metrics.js'
import { PaymentProviderKeyConflictError, paymentProviderFrom } from './payment-provider.js'
import { savePayment } from './payment-record.js'
import {
  type PaymentEvent,
  type PaymentRequest,
  readPaymentRequest,
  validatePaymentRequest,
} from './payment-request.js'

export type { Payment } from './payment-record.js'
export type { PaymentEvent, PaymentRequest } from './payment-request.js'

const env = readEnvironment(['idempotencyTable', 'paymentsTable'])
// Clients live for the life of the instance: connections are reused across invocations.
const dynamodb = DynamoDBDocumentClient.from(new DynamoDBClient(endpointOption(env.dynamodbEndpoint)))
const store = new DynamoDBStore({ client: dynamodb, tableName: env.idempotencyTable })

/**
 * The payment provider this instance charges through: the local run's provider service, or one
 * simulated in this instance.
 *
 * @example
 * await paymentProvider.charge({ amount: 4200, currency: "EUR", customer: "cus_1" }, derivedKey)
 */
export const paymentProvider = paymentProviderFrom(process.env)

const charge = async (event: PaymentEvent, context: Context): Promise<APIGatewayProxyResult> => {
  // Checked before the claim by validatePaymentRequest(): read again here for its value.
  const request = readPaymentRequest(event)
  if ('detail' in request) throw new Error(`unreachable: ${request.detail}`)

  // The provider's key is derived from this claim (the client's key in the caller's scope): a re-run
  // of this request (after a crash between the charge and the response) charges nothing new.
  // SAMPLE_UNPROTECTED=1 (the chaos run's --unprotected) sends a new key per run instead.
  const derivedKey =
    process.env.SAMPLE_UNPROTECTED === '1'
      ? hashValue(['payment', randomUUID()])
      : currentClaim(context).downstreamKey('payment-provider')
  const charged = await chargeOrRefuse(request, derivedKey)
  if ('statusCode' in charged) return charged
  // The payment row carries its order_paid event: the payments table's stream publishes it
  // (payment-outbox.ts), so the answer does not wait on the queue and a charge never loses it.
  const saved = await savePayment(dynamodb, env.paymentsTable, {
    paymentId: `pay_${derivedKey.slice(0, 24)}`,
    chargeId: charged.id,
    status: 'succeeded',
    createdAt: charged.createdAt,
    ...request,
  })
  if (!saved.written && !saved.sameRequest) {
    // Only after the idempotency record expired and the provider forgot its key: this run's charge
    // belongs to no payment.
    console.error('charge made for a payment id that holds another payment: refund it', {
      paymentId: saved.payment.paymentId,
      chargeId: charged.id,
    })
    return problem(422, 'Idempotency key reused', 'this Idempotency-Key was used for another payment')
  }
  const { payment } = saved
  if (!saved.written && payment.chargeId !== charged.id) {
    console.warn('a re-run charged again after the idempotency record was lost: refund the second charge', {
      paymentId: payment.paymentId,
      chargeId: payment.chargeId,
      secondChargeId: charged.id,
    })
  }
  console.info(
    !saved.written
      ? 'payment already saved, answered with it'
      : charged.replayed
        ? 'charge already made by the provider, payment saved'
        : 'charge created',
    {
      paymentId: payment.paymentId,
      chargeId: payment.chargeId,
      amount: payment.amount,
      currency: payment.currency,
    },
  )
  return {
    statusCode: 201,
    headers: { 'content-type': 'application/json', location: `/payments/${payment.paymentId}` },
    body: JSON.stringify(payment),
  }
}

// A key the provider already used for another charge is an answer (422, stored like any 4xx): this
// call charged nothing, and the same request will meet the same refusal.
const chargeOrRefuse = async (request: PaymentRequest, derivedKey: string) => {
  try {
    return await paymentProvider.charge(
      { amount: request.amount, currency: request.currency, customer: request.customer },
      derivedKey,
    )
  } catch (error) {
    if (!(error instanceof PaymentProviderKeyConflictError)) throw error
    return problem(
      422,
      'Idempotency key reused',
      'the payment provider already charged another request with this Idempotency-Key: use a new key',
    )
  }
}

/**
 * The payment function: `idempotent()` reads the `Idempotency-Key` header, answers 400 / 409 / 422
 * itself and replays a finished payment with `Idempotent-Replayed: true`.
 *
 * @example
 * await handler(loadEvent('sample-apigw-v2-post-payment.json'), context)
 */
export const handler = middy<PaymentEvent, APIGatewayProxyResult>(charge)
  // First: a request it refuses (400, 403, 413) is answered before a key is claimed, so it is never
  // stored and the fixed body may come back with the same key.
  .use(validatePaymentRequest())
  .use(
    idempotent({
      store,
      // One CloudWatch metric per outcome (claimed, replayed, in-progress...): see metrics.ts.
      onEvent: emfMetrics({ functionName: process.env.AWS_LAMBDA_FUNCTION_NAME || 'Payment' }),
    }),
  )

const problem = (status: number, title: string, detail: string): APIGatewayProxyResult => ({
  statusCode: status,
  headers: { 'content-type': 'application/problem+json' },
  body: JSON.stringify({ type: 'about:blank', title, status, detail }),
})
