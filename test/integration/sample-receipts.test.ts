import { randomUUID } from 'node:crypto'
import {
  CreateTableCommand,
  DynamoDBClient,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb'
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams'
import type { Context, DynamoDBStreamEvent } from 'aws-lambda'
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest'
import { localClientConfig } from '../../infra/local/dynamodb-local.js'
import {
  type DynamoDBStreamSource,
  enableStream,
  startDynamoDBStreamSource,
} from '../../infra/local/dynamodb-stream-source.js'
import {
  type CapturedConsole,
  type CapturedEmf,
  captureConsole,
  captureEmf,
} from '../helpers/captured-output.js'
import { createIdempotencyTable } from '../helpers/dynamodb.js'

// The sample's receipt sender on DynamoDB Local's own stream of an orders table, read by the local
// event source mapping, which delivers every batch twice and, once, retries a whole batch after
// the consumer did its work and then crashed.

const endpoint = inject('dynamoEndpoint')
const dynamodb = new DynamoDBClient(localClientConfig(endpoint))
const streams = new DynamoDBStreamsClient(localClientConfig(endpoint))
const ordersTable = `orders-${randomUUID()}`
let source: DynamoDBStreamSource
let receipts: typeof import('../../infra/functions/order-receipts.js')
let crashes = 0
let info: CapturedConsole
let emf: CapturedEmf

beforeAll(async () => {
  info = captureConsole('info')
  emf = captureEmf()
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    DYNAMODB_ENDPOINT: endpoint,
    IDEMPOTENCY_TABLE: await createIdempotencyTable(dynamodb),
  })
  receipts = await import('../../infra/functions/order-receipts.js')
  await dynamodb.send(
    new CreateTableCommand({
      TableName: ordersTable,
      AttributeDefinitions: [{ AttributeName: 'orderId', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'orderId', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  )
  source = startDynamoDBStreamSource({
    client: streams,
    streamArn: await enableStream(dynamodb, ordersTable),
    duplicateDeliveries: true,
    pollIntervalMs: 50,
    handler: async (event: DynamoDBStreamEvent, context: Context) => {
      const response = await receipts.handler(event, context)
      // The first batch with an order_3 crashes after the work: Lambda retries the whole batch.
      if (crashes === 0 && event.Records.some((record) => record.dynamodb?.Keys?.orderId?.S === 'order_3')) {
        crashes++
        throw new Error('Task timed out after 10.00 seconds')
      }
      return response
    },
    log: () => {},
  })
})

afterAll(async () => {
  await source?.stop()
  dynamodb.destroy()
  streams.destroy()
  vi.restoreAllMocks()
})

const putOrder = (orderId: string) =>
  dynamodb.send(
    new PutItemCommand({
      TableName: ordersTable,
      Item: {
        orderId: { S: orderId },
        eventId: { S: `evt_${orderId}` },
        paymentId: { S: `pay_${orderId}` },
        customer: { S: 'cus_1' },
        sku: { S: 'sku_coffee' },
        quantity: { N: '1' },
        createdAt: { S: new Date().toISOString() },
      },
    }),
  )

describe('the sample receipt sender on the orders table stream', () => {
  it('sends one receipt per order under duplicate deliveries and a retried batch', async () => {
    const orders = Array.from({ length: 6 }, (_, index) => `order_${index}`)
    for (const orderId of orders) await putOrder(orderId)
    // A later change of an order is delivered too, and sends nothing.
    await dynamodb.send(
      new UpdateItemCommand({
        TableName: ordersTable,
        Key: { orderId: { S: 'order_1' } },
        UpdateExpression: 'SET quantity = :two',
        ExpressionAttributeValues: { ':two': { N: '2' } },
      }),
    )

    await source.settled()

    expect(crashes).toBe(1)
    // Each batch was delivered twice, and one batch a third and fourth time.
    expect(source.invocations).toBeGreaterThanOrEqual(4)
    expect(receipts.sentReceipts.map((receipt) => receipt.orderId).sort()).toEqual(orders)
    expect(source.failedRecords).toEqual([])
    // Its log: one line per receipt sent; its metrics: the duplicates replayed.
    expect(info.lines.filter((line) => line.startsWith('receipt sent'))).toHaveLength(orders.length)
    expect(emf.metricNames()).toEqual(expect.arrayContaining(['IdempotencyCompleted', 'IdempotencyReplayed']))
  })
})
