import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { DynamoDBRecord } from 'aws-lambda'
import { DynamoDBStore, type DynamoDBStreamChange, idempotentDynamoDBStreamHandler } from '../../src/index.js'
import { endpointOption, readEnvironment } from './environment.js'
import { emfMetrics } from './metrics.js'
import type { Order } from './order-consumer.js'

/** A receipt as the simulated mailer sends it. */
export interface Receipt {
  orderId: string
  customer: string
  sku: string
  quantity: number
}

const env = readEnvironment(['idempotencyTable'])
const store = new DynamoDBStore({
  client: new DynamoDBClient(endpointOption(env.dynamodbEndpoint)),
  tableName: env.idempotencyTable,
})

/**
 * The receipts this process has sent: what the customers' inboxes would show. A stand-in for an
 * email service, in this process only (one Lambda instance in AWS).
 */
export const sentReceipts: Receipt[] = []

/**
 * Local runs only: listeners that hear each receipt sent. Empty in AWS; the local run keeps the
 * receipts of every sandbox through it.
 *
 * @example
 * receiptListeners.add((receipt) => inbox.push(receipt))
 */
export const receiptListeners = new Set<(receipt: Receipt) => void>()

const sendReceipt = async (change: DynamoDBStreamChange<Order>, record: DynamoDBRecord) => {
  // Only a new order gets a receipt; later changes of the order (and its removal) do not.
  if (change.eventName !== 'INSERT' || change.newImage === undefined) return { skipped: change.eventName }
  const { orderId, customer, sku, quantity } = change.newImage
  const receipt: Receipt = { orderId, customer, sku, quantity }
  sentReceipts.push(receipt)
  for (const listener of receiptListeners) listener(receipt)
  console.info('receipt sent', { orderId, customer, eventID: record.eventID })
  return { receiptFor: orderId }
}

/**
 * The receipt sender, triggered by the orders table's stream with `ReportBatchItemFailures`,
 * bisect-on-error, retries and an on-failure queue: sends one receipt per order, however often
 * Lambda delivers the order's INSERT record (a retried batch, a batch split in two, a redelivery
 * from the record that failed).
 *
 * @example
 * const { batchItemFailures } = await handler(loadEvent('dynamodb-stream-orders-batch.json'), context)
 */
export const handler = idempotentDynamoDBStreamHandler<Order>(sendReceipt, {
  store,
  // A receipt per order: its INSERT is keyed by the order id (the business key), other changes by
  // their record's eventID (the default), which they only need to skip once.
  key: (change, record) =>
    change.eventName === 'INSERT' ? `receipt:${String(change.keys.orderId)}` : record.eventID,
  // A stream retries a failed batch at once, and only so many times: a record whose earlier run
  // crashed (its claim held until the lease ends) waits here for that run's result or its lease,
  // instead of failing every retry and going to the on-failure queue unsent.
  inProgress: { waitMs: 5_000 },
  onEvent: emfMetrics({ functionName: process.env.AWS_LAMBDA_FUNCTION_NAME || 'OrderReceipts' }),
})
