import { AsyncLocalStorage } from 'node:async_hooks'
import { randomUUID } from 'node:crypto'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb'
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda'
import { DynamoDBStore, idempotentSqsHandler } from '../../src/index.js'
import { endpointOption, readEnvironment } from './environment.js'
import { emfMetrics } from './metrics.js'
import { assertOrderPaid, type OrderPaid } from './order-paid.js'

/** An order as stored in the orders table. */
export interface Order {
  orderId: string
  eventId: string
  paymentId: string
  customer: string
  sku: string
  quantity: number
  createdAt: string
}

const env = readEnvironment(['idempotencyTable', 'ordersTable', 'stockTable'])
const dynamodb = DynamoDBDocumentClient.from(new DynamoDBClient(endpointOption(env.dynamodbEndpoint)))
const store = new DynamoDBStore({ client: dynamodb, tableName: env.idempotencyTable })

// The message ids whose work ran in the current invocation, to log the ones that were replayed.
const ranInThisInvocation = new AsyncLocalStorage<Set<string>>()

const createOrder = async (body: OrderPaid, record: SQSRecord): Promise<{ orderId: string }> => {
  const event = assertOrderPaid(body)
  const order: Order = {
    // A new id for every run: without idempotency, a second delivery would be a second order.
    orderId: `ord_${randomUUID().replaceAll('-', '').slice(0, 24)}`,
    eventId: event.eventId,
    paymentId: event.paymentId,
    customer: event.customer,
    sku: event.sku,
    quantity: event.quantity,
    createdAt: new Date().toISOString(),
  }
  // One transaction: the order and the stock move together or not at all, so a failed record can
  // run again from the start.
  await dynamodb.send(
    new TransactWriteCommand({
      TransactItems: [
        {
          Put: {
            TableName: env.ordersTable,
            Item: order,
            ConditionExpression: 'attribute_not_exists(orderId)',
          },
        },
        {
          Update: {
            TableName: env.stockTable,
            Key: { sku: event.sku },
            UpdateExpression: 'ADD available :taken',
            ConditionExpression: 'attribute_exists(sku)',
            ExpressionAttributeValues: { ':taken': -event.quantity },
          },
        },
      ],
    }),
  )
  ranInThisInvocation.getStore()?.add(record.messageId)
  console.info('order created', { orderId: order.orderId, eventId: event.eventId, sku: event.sku })
  return { orderId: order.orderId }
}

// Keyed by the event id in the body, not the SQS message id: a producer that sends the same
// order_paid twice (two messages) is caught as well as a redelivery of one message.
const consume = idempotentSqsHandler<OrderPaid>(createOrder, {
  store,
  key: (body) => (body as Partial<OrderPaid> | null)?.eventId,
  onEvent: emfMetrics({ functionName: process.env.AWS_LAMBDA_FUNCTION_NAME || 'OrderConsumer' }),
})

/**
 * The order consumer, triggered by the order events queue with `ReportBatchItemFailures`: creates
 * the order and takes the stock once per `order_paid` event, however often it is delivered.
 *
 * @example
 * const { batchItemFailures } = await handler(loadEvent('sample-sqs-order-paid.json'), context)
 */
export const handler = (event: SQSEvent, context: Context): Promise<SQSBatchResponse> =>
  ranInThisInvocation.run(new Set(), async () => {
    const response = await consume(event, context)
    const ran = ranInThisInvocation.getStore() ?? new Set()
    const failed = new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier))
    for (const record of event.Records) {
      if (ran.has(record.messageId) || failed.has(record.messageId)) continue
      console.info('duplicate skipped', { messageId: record.messageId, eventId: eventIdOf(record) })
    }
    return response
  })

const eventIdOf = (record: SQSRecord): unknown => {
  try {
    return JSON.parse(record.body)?.eventId
  } catch {
    return undefined
  }
}
