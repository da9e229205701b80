// The payment handler made idempotent with lambda-idempotency, as its README shows for HTTP APIs.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import middy from '@middy/core'
import { DynamoDBStore, idempotent } from '../../src/index.js'
import { createPayment } from '../sides/payment.js'

const store = new DynamoDBStore({
  client: new DynamoDBClient({}),
  tableName: process.env.IDEMPOTENCY_TABLE ?? 'idempotency',
})
export const handler = middy(createPayment).use(idempotent({ store }))
