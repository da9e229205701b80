// In every project, whatever optional peers it has: makeIdempotent, the SQS handler, MemoryStore,
// and DynamoDBStore on a plain DynamoDBClient need none of them. Prints what ran, as JSON.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { Context, SQSEvent } from 'aws-lambda'
import { DynamoDBStore, idempotentSqsHandler, MemoryStore, makeIdempotent } from 'lambda-idempotency'

const store = new MemoryStore()
const runs: string[] = []

const charge = async (payment: { paymentId: string; amount: number }) => {
  runs.push(`charge ${payment.paymentId}`)
  return { chargeId: `ch_${runs.length}`, amount: payment.amount }
}
const chargeOnce = makeIdempotent(charge, { store, key: (payment) => payment.paymentId })

const orderPaid = idempotentSqsHandler<{ eventId: string }>(
  async (body) => {
    runs.push(`order ${body.eventId}`)
  },
  { store, key: (body) => body.eventId },
)

export const dynamodbStore = new DynamoDBStore({
  client: new DynamoDBClient({ region: 'us-east-1' }),
  tableName: 'idempotency',
})

const message = (messageId: string) => ({
  messageId,
  receiptHandle: messageId,
  body: JSON.stringify({ eventId: 'evt_1' }),
  attributes: {
    ApproximateReceiveCount: '1',
    SentTimestamp: '1',
    SenderId: 'local',
    ApproximateFirstReceiveTimestamp: '1',
  },
  messageAttributes: {},
  md5OfBody: '',
  eventSource: 'aws:sqs',
  eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:orders',
  awsRegion: 'us-east-1',
})
const context = { functionName: 'core', getRemainingTimeInMillis: () => 30_000 } as Context

const first = await chargeOnce({ paymentId: 'pay_1', amount: 100 })
const retry = await chargeOnce({ paymentId: 'pay_1', amount: 100 })
const batch = await orderPaid({ Records: [message('m1'), message('m2')] } satisfies SQSEvent, context)
console.log(JSON.stringify({ first, retry, batch, runs }))
