import { randomUUID } from 'node:crypto'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs'
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb'
import middy from '@middy/core'
import type { APIGatewayProxyEvent, APIGatewayProxyEventV2, APIGatewayProxyResult, Context } from 'aws-lambda'
import { currentClaim, DynamoDBStore, hashValue, idempotent } from '../../src/index.js'
import { endpointOption, readEnvironment } from './environment.js'
import { emfMetrics } from './metrics.js'
import type { OrderPaid } from './order-paid.js'
import { paymentProviderFrom } from './payment-provider.js'

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

/** A stored payment, also the response body. */
export interface Payment extends PaymentRequest {
  paymentId: string
  chargeId: string
  status: 'succeeded'
  createdAt: string
}

const env = readEnvironment(['idempotencyTable', 'paymentsTable', 'orderEventsQueueUrl'])
// Clients live for the life of the instance: connections are reused across invocations.
const dynamodb = DynamoDBDocumentClient.from(new DynamoDBClient(endpointOption(env.dynamodbEndpoint)))
const sqs = new SQSClient(endpointOption(env.sqsEndpoint))
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
  const request = parsePaymentRequest(event.body ?? '', event.isBase64Encoded)
  if (typeof request === 'string') return problem(400, 'Invalid payment request', request)

  // The provider's key is derived from this claim (the client's key in the caller's scope): a re-run
  // of this request (after a crash between the charge and the response) charges nothing new.
  // SAMPLE_UNPROTECTED=1 (the chaos run's --unprotected) sends a new key per run instead.
  const derivedKey =
    process.env.SAMPLE_UNPROTECTED === '1'
      ? hashValue(['payment', randomUUID()])
      : currentClaim(context).downstreamKey('payment-provider')
  const charged = await paymentProvider.charge(
    { amount: request.amount, currency: request.currency, customer: request.customer },
    derivedKey,
  )
  const payment: Payment = {
    paymentId: `pay_${derivedKey.slice(0, 24)}`,
    chargeId: charged.id,
    status: 'succeeded',
    createdAt: charged.createdAt,
    ...request,
  }
  await savePayment(payment)
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: env.orderEventsQueueUrl,
      MessageBody: JSON.stringify(orderPaid(payment)),
      MessageAttributes: { type: { DataType: 'String', StringValue: 'order_paid' } },
    }),
  )
  console.info(charged.replayed ? 'charge already made by the provider, payment saved' : 'charge created', {
    paymentId: payment.paymentId,
    chargeId: payment.chargeId,
    amount: payment.amount,
    currency: payment.currency,
  })
  return {
    statusCode: 201,
    headers: { 'content-type': 'application/json', location: `/payments/${payment.paymentId}` },
    body: JSON.stringify(payment),
  }
}

/**
 * The payment function: `idempotent()` reads the `Idempotency-Key` header, answers 400 / 409 / 422
 * itself and replays a finished payment with `Idempotent-Replayed: true`.
 *
 * @example
 * await handler(loadEvent('sample-apigw-v2-post-payment.json'), context)
 */
export const handler = middy<PaymentEvent, APIGatewayProxyResult>(charge).use(
  idempotent({
    store,
    // One CloudWatch metric per outcome (claimed, replayed, in-progress...): see metrics.ts.
    onEvent: emfMetrics({ functionName: process.env.AWS_LAMBDA_FUNCTION_NAME || 'Payment' }),
  }),
)

const savePayment = async (payment: Payment): Promise<void> => {
  try {
    await dynamodb.send(
      new PutCommand({
        TableName: env.paymentsTable,
        Item: payment,
        ConditionExpression: 'attribute_not_exists(paymentId)',
      }),
    )
  } catch (error) {
    // Written by an earlier run of the same request that did not get to answer: keep the first.
    if ((error as Error).name !== 'ConditionalCheckFailedException') throw error
  }
}

const orderPaid = (payment: Payment): OrderPaid => ({
  type: 'order_paid',
  eventId: `evt_${payment.paymentId.slice('pay_'.length)}`,
  paymentId: payment.paymentId,
  customer: payment.customer,
  sku: payment.sku,
  quantity: payment.quantity,
  amount: payment.amount,
  currency: payment.currency,
  paidAt: payment.createdAt,
})

/**
 * Parses and checks the body; returns what is wrong as a sentence when it is not a payment.
 *
 * @example
 * parsePaymentRequest('{"amount":-1}', false) // 'amount must be a positive integer (minor units), got -1'
 */
export const parsePaymentRequest = (body: string, isBase64Encoded: boolean): PaymentRequest | string => {
  let value: Partial<PaymentRequest> | null
  try {
    value = JSON.parse(isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body)
  } catch {
    return 'the body must be JSON: {"amount", "currency", "customer", "sku", "quantity"}'
  }
  if (typeof value !== 'object' || value === null) return 'the body must be a JSON object'
  const { amount, currency, customer, sku, quantity } = value
  if (!Number.isSafeInteger(amount) || (amount as number) <= 0) {
    return `amount must be a positive integer (minor units), got ${JSON.stringify(amount)}`
  }
  if (typeof currency !== 'string' || !/^[A-Z]{3}$/.test(currency)) {
    return `currency must be an ISO 4217 code such as "EUR", got ${JSON.stringify(currency)}`
  }
  if (typeof customer !== 'string' || customer.length === 0 || customer.length > 64) {
    return `customer must be a string of 1 to 64 characters, got ${JSON.stringify(customer)}`
  }
  if (typeof sku !== 'string' || sku.length === 0 || sku.length > 64) {
    return `sku must be a string of 1 to 64 characters, got ${JSON.stringify(sku)}`
  }
  if (!Number.isSafeInteger(quantity) || (quantity as number) < 1 || (quantity as number) > 100) {
    return `quantity must be an integer from 1 to 100, got ${JSON.stringify(quantity)}`
  }
  return { amount: amount as number, currency, customer, sku, quantity: quantity as number }
}

const problem = (status: number, title: string, detail: string): APIGatewayProxyResult => ({
  statusCode: status,
  headers: { 'content-type': 'application/problem+json' },
  body: JSON.stringify({ type: 'about:blank', title, status, detail }),
})
