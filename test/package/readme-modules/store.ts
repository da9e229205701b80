// The user's idempotency store, imported by README blocks as './store.js': the table of the
// README's first handler.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DynamoDBStore } from 'lambda-idempotency'

export const store = new DynamoDBStore({
  client: new DynamoDBClient({}),
  tableName: process.env.IDEMPOTENCY_TABLE ?? 'idempotency',
})
