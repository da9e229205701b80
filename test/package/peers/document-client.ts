// With @aws-sdk/lib-dynamodb: DynamoDBStore on a document client.
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import { DynamoDBStore, PowertoolsDynamoDBStore } from 'lambda-idempotency'

const client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }))
export const store = new DynamoDBStore({ client, tableName: 'idempotency' })
export const powertoolsStore = new PowertoolsDynamoDBStore({ client, tableName: 'powertools-idempotency' })
console.log(
  JSON.stringify({ store: store.constructor.name, powertoolsStore: powertoolsStore.constructor.name }),
)
