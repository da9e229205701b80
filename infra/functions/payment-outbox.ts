import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs'
import { DynamoDBStore, type DynamoDBStreamChange, idempotentDynamoDBStreamHandler } from '../../src/index.js'
import { endpointOption, readEnvironment } from './environment.js'
import { emfMetrics } from './metrics.js'
import { assertOrderPaid } from './order-paid.js'
import type { PaymentRow } from './payment-record.js'

const env = readEnvironment(['idempotencyTable', 'orderEventsQueueUrl'])
const store = new DynamoDBStore({
  client: new DynamoDBClient(endpointOption(env.dynamodbEndpoint)),
  tableName: env.idempotencyTable,
})

/**
 * The client the outbox sends with. Exported so that a local run or a test can watch or fail its
 * calls at the SDK boundary (the sample exports its payment provider for the same reason).
 */
export const outboxSqs = new SQSClient(endpointOption(env.sqsEndpoint))

/**
 * Sends the `order_paid` event a new payment row carries to the order events queue. Not idempotent
 * on its own: every call sends a message.
 *
 * @example
 * await publishOrderPaid(change)
 */
export const publishOrderPaid = async (change: DynamoDBStreamChange<PaymentRow>) => {
  // A payment row is written once; later changes (none today) and removals publish nothing.
  if (change.eventName !== 'INSERT' || change.newImage === undefined) return { skipped: change.eventName }
  const event = assertOrderPaid(change.newImage.orderPaid)
  await outboxSqs.send(
    new SendMessageCommand({
      QueueUrl: env.orderEventsQueueUrl,
      MessageBody: JSON.stringify(event),
      MessageAttributes: { type: { DataType: 'String', StringValue: 'order_paid' } },
    }),
  )
  console.info('order_paid sent', { eventId: event.eventId, paymentId: event.paymentId })
  return { sent: event.eventId }
}

/**
 * The outbox relay, triggered by the payments table's stream (`NEW_IMAGE`) with
 * `ReportBatchItemFailures`, bisect-on-error, retries and an on-failure queue: sends each payment
 * row's `order_paid` once, keyed by its `eventId`. A failed send fails the record, the key is
 * released and the stream delivers the record again; a batch delivered again after the send
 * (a retry from an earlier record, a batch split in two) replays instead of sending twice.
 *
 * @example
 * const { batchItemFailures } = await handler(paymentsStreamEvent, context)
 */
export const handler = idempotentDynamoDBStreamHandler<PaymentRow>((change) => publishOrderPaid(change), {
  store,
  // Keyed by the event, not the stream record: whatever delivers the row again, the event goes once.
  key: (change, record) => {
    const eventId = change.newImage?.orderPaid?.eventId
    return change.eventName === 'INSERT' && typeof eventId === 'string'
      ? `order_paid:${eventId}`
      : record.eventID
  },
  // A stream retries a failed batch at once, and only so many times: a record whose earlier run
  // crashed (its claim held until the lease ends) waits here for that run's result or its lease,
  // instead of failing every retry and going to the on-failure queue unsent.
  inProgress: { waitMs: 5_000 },
  onEvent: emfMetrics({ functionName: process.env.AWS_LAMBDA_FUNCTION_NAME || 'PaymentOutbox' }),
})
