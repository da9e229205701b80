import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda'

/** The HTTP API (payload v2) `POST /payments` event of `events/`, with the key in a header. */
const smallTemplate = readFileSync(new URL('../events/http-v2-post-payment.json', import.meta.url), 'utf8')

/** Its size in bytes, for the report. */
export const SMALL_EVENT_BYTES = Buffer.byteLength(JSON.stringify(JSON.parse(smallTemplate)))

/** The small event with a fresh or given `Idempotency-Key`, parsed afresh (a new object every call). */
export const smallEvent = (key: string = randomUUID()): APIGatewayProxyEventV2 => {
  const event = JSON.parse(smallTemplate) as APIGatewayProxyEventV2
  event.headers['idempotency-key'] = key
  return event
}

// A realistic large JSON body: an order with many line items, built once, deterministic.
const ORDER_ID = '__ORDER_ID__'
const buildLargeBody = (targetBytes: number): string => {
  const order = {
    orderId: ORDER_ID,
    customer: { id: 'cus_42', email: 'buyer@example.com', name: 'Ada Lovelace', locale: 'en-GB' },
    currency: 'EUR',
    shipping: {
      method: 'express',
      address: { line1: '1 Main St', city: 'Dublin', postcode: 'D01', country: 'IE' },
    },
    items: [] as Record<string, unknown>[],
  }
  for (let i = 0; JSON.stringify(order).length < targetBytes; i++) {
    order.items.push({
      sku: `SKU-${String(i).padStart(6, '0')}`,
      name: `Item number ${i}`,
      quantity: (i % 5) + 1,
      unitPrice: 100 + ((i * 37) % 9900),
      taxRate: i % 3 === 0 ? 0.23 : 0.135,
      attributes: {
        color: ['red', 'green', 'blue'][i % 3],
        size: ['S', 'M', 'L', 'XL'][i % 4],
        gift: i % 7 === 0,
      },
      tags: ['sale', `batch-${i % 11}`],
    })
  }
  return JSON.stringify(order)
}

const largeBodyTemplate = buildLargeBody(100 * 1024)

/** Size in bytes of the large body, for the report. */
export const LARGE_BODY_BYTES = Buffer.byteLength(largeBodyTemplate.replace(ORDER_ID, randomUUID()))

/**
 * The small event carrying a ~100 KB JSON body. `orderId` inside the body makes bodies differ, so a
 * first call keyed on the body gets a fresh key; `key` is the `Idempotency-Key` header.
 */
export const largeEvent = (
  orderId: string = randomUUID(),
  key: string = randomUUID(),
): APIGatewayProxyEventV2 => {
  const event = smallEvent(key)
  event.body = largeBodyTemplate.replace(ORDER_ID, orderId)
  event.headers['content-length'] = String(Buffer.byteLength(event.body))
  return event
}

/** A Lambda context as the runtime passes it: both libraries read the function name and remaining time. */
export const lambdaContext = (): Context => ({
  callbackWaitsForEmptyEventLoop: true,
  functionName: 'bench-payments',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:bench-payments',
  memoryLimitInMB: '1024',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
  logGroupName: '/aws/lambda/bench-payments',
  logStreamName: '2026/11/28/[$LATEST]0123456789abcdef',
  getRemainingTimeInMillis: () => 30_000,
  done: () => {},
  fail: () => {},
  succeed: () => {},
})
