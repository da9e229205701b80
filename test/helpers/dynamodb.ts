import { randomUUID } from 'node:crypto'
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb'
import { inject } from 'vitest'
import { createIdempotencyTable as createTable, localClientConfig } from '../../infra/local/dynamodb-local.js'

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

/** A fresh idempotency table with a unique name (TTL off unless asked for). */
export const createIdempotencyTable = (client: DynamoDBClient, options: { ttl?: boolean } = {}) =>
  createTable(client, `idempotency-${randomUUID()}`, options)

/** Every item of a table, as raw attribute maps. */
export const scanTable = async (client: DynamoDBClient, tableName: string) =>
  (await client.send(new ScanCommand({ TableName: tableName, ConsistentRead: true }))).Items ?? []
