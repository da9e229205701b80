import { AsyncLocalStorage } from 'node:async_hooks'
import { randomUUID } from 'node:crypto'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient, TransactWriteCommand } from '@aws-sdk/lib-dynamodb'
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda'
import { currentClaim, DynamoDBStore, hashValue, idempotentSqsHandler } from '../../src/index.js'
import { endpointOption, readEnvironment } from './environment.js'
import { checkpoint, emfMetrics } from './metrics.js'
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

/** What the consumer records per event, and replays: the order it created, or why there is none. */
export type OrderOutcome = { orderId: string } | { rejected: 'out-of-stock'; sku: string; quantity: number }

// `SAMPLE_UNPROTECTED=1` (the chaos run's --unprotected) writes as a naive consumer would: a random
// order id and the writes outside the idempotency transaction, to show the double effects it lets through.
const unprotected = process.env.SAMPLE_UNPROTECTED === '1'

const createOrder = async (body: OrderPaid, record: SQSRecord): Promise<OrderOutcome> => {
  const event = assertOrderPaid(body)
  const order: Order = {
    // Derived from the event: a second run for the same event can only meet the first order.
    orderId: unprotected
      ? `ord_${randomUUID().replaceAll('-', '').slice(0, 24)}`
      : `ord_${hashValue(['order', event.eventId]).slice(0, 24)}`,
    eventId: event.eventId,
    paymentId: event.paymentId,
    customer: event.customer,
    sku: event.sku,
    quantity: event.quantity,
    createdAt: new Date().toISOString(),
  }
  const result: OrderOutcome = { orderId: order.orderId }
  const items = [
    {
      Put: { TableName: env.ordersTable, Item: order, ConditionExpression: 'attribute_not_exists(orderId)' },
    },
    {
      // Stock never goes below zero: a shortage cancels the whole transaction.
      Update: {
        TableName: env.stockTable,
        Key: { sku: event.sku },
        UpdateExpression: 'ADD available :taken',
        ConditionExpression: 'available >= :quantity',
        ExpressionAttributeValues: { ':taken': -event.quantity, ':quantity': event.quantity },
      },
    },
  ]
  try {
    if (unprotected) {
      await dynamodb.send(new TransactWriteCommand({ TransactItems: items }))
    } else {
      // The order, the stock and the idempotency record commit together or not at all: a crash
      // after this line replays the result, a crash before it left nothing behind.
      await currentClaim().transactWrite(dynamodb, items, result)
    }
  } catch (error) {
    const [orderReason, stockReason] = cancellationReasons(error)
    if (orderReason === 'ConditionalCheckFailed') {
      // This event's order exists (its idempotency record expired or was deleted): nothing new to do.
      console.info('order already created', { orderId: order.orderId, eventId: event.eventId })
      return result
    }
    if (stockReason === 'ConditionalCheckFailed') {
      // Not enough stock (or an unknown SKU): the event's outcome, stored and replayed, not retried.
      console.warn('out of stock: no order created', { eventId: event.eventId, sku: event.sku })
      return { rejected: 'out-of-stock', sku: event.sku, quantity: event.quantity }
    }
    throw error
  }
  checkpoint('after-effect')
  ranInThisInvocation.getStore()?.add(record.messageId)
  console.info('order created', { orderId: order.orderId, eventId: event.eventId, sku: event.sku })
  return result
}

// The codes of a cancelled transaction, one per item (`None` for those that would have passed).
const cancellationReasons = (error: unknown): (string | undefined)[] => {
  const { name, CancellationReasons } = error as { name?: string; CancellationReasons?: { Code?: string }[] }
  return name === 'TransactionCanceledException'
    ? (CancellationReasons ?? []).map((reason) => reason.Code)
    : []
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
 * the order and takes the stock once per `order_paid` event, however often it is delivered and
 * wherever an invocation dies: the order, the stock change and the idempotency record commit in
 * one transaction. Not enough stock is an outcome (`{ rejected: 'out-of-stock' }`), not retried.
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
