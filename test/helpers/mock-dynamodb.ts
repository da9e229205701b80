import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { mockClient } from 'aws-sdk-client-mock'
import { DynamoDBStore } from '../../src/index.js'

/**
 * A DynamoDBStore whose client is mocked at the SDK boundary, for fault injection. Call
 * `dynamo.reset()` before each test.
 */
export const mockedDynamoDBStore = () => {
  const client = new DynamoDBClient({
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  })
  const dynamo = mockClient(client)
  return { client, dynamo, store: new DynamoDBStore({ client, tableName: 'idempotency' }) }
}
