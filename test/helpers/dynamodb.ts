import { randomUUID } from 'node:crypto'
import {
  CreateTableCommand,
  DynamoDBClient,
  ScanCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb'
import { inject } from 'vitest'
import { localClientConfig } from '../../infra/local/dynamodb-local.js'

/** A client for the DynamoDB Local of this test run that counts the requests it sends. */
export const countingClient = () => {
  const client = new DynamoDBClient(localClientConfig(inject('dynamoEndpoint')))
  const counter = { requests: 0 }
  client.middlewareStack.add(
    (next) => async (args) => {
      counter.requests++
      return next(args)
    },
    { step: 'initialize', name: 'countRequests' },
  )
  return { client, counter }
}

/**
 * A fresh idempotency table with a unique name. TTL stays off unless asked for: DynamoDB Local
 * deletes expired items within a second, and the "expired but still present" path needs them kept.
 */
export const createIdempotencyTable = async (client: DynamoDBClient, options: { ttl?: boolean } = {}) => {
  const tableName = `idempotency-${randomUUID()}`
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  )
  if (options.ttl) {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
      }),
    )
  }
  return tableName
}

/** Every item of a table, as raw attribute maps. */
export const scanTable = async (client: DynamoDBClient, tableName: string) =>
  (await client.send(new ScanCommand({ TableName: tableName, ConsistentRead: true }))).Items ?? []
