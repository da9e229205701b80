import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { createIdempotencyTable, localClientConfig } from '../infra/local/dynamodb-local.js'
import { countRequests, type RequestCounter } from './counting.js'

/** A client of the benchmark's DynamoDB Local that counts its requests. */
export const localClient = (endpoint: string): { client: DynamoDBClient; counter: RequestCounter } => {
  const client = new DynamoDBClient(localClientConfig(endpoint))
  return { client, counter: countRequests(client) }
}

/** Creates an on-demand table with a String partition key `id`, the default of both libraries. */
export const createTable = (client: DynamoDBClient, tableName: string): Promise<string> =>
  createIdempotencyTable(client, tableName)
