import {
  CreateTableCommand,
  type DynamoDBClient,
  PutItemCommand,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb'

/** The sample's table names, as the functions read them from their environment. */
export interface SampleTableNames {
  idempotencyTable: string
  paymentsTable: string
  ordersTable: string
  stockTable: string
}

/** Stock the local run starts with: what `POST /payments` may order. */
export const initialStock: Readonly<Record<string, number>> = { sku_coffee: 100, sku_tea: 50 }

/**
 * Table names for a local run, all starting with `prefix`.
 *
 * @example
 * sampleTableNames('sample') // { idempotencyTable: 'sample-idempotency', paymentsTable: 'sample-payments', ... }
 */
export const sampleTableNames = (prefix: string): SampleTableNames => ({
  idempotencyTable: `${prefix}-idempotency`,
  paymentsTable: `${prefix}-payments`,
  ordersTable: `${prefix}-orders`,
  stockTable: `${prefix}-stock`,
})

/**
 * Creates the tables the stack defines (same keys, TTL on the idempotency table) when they do not
 * exist yet, and puts {@link initialStock} into a new stock table.
 *
 * @example
 * await createSampleTables(client, sampleTableNames('sample'))
 */
export const createSampleTables = async (client: DynamoDBClient, names: SampleTableNames): Promise<void> => {
  if (await createTable(client, names.idempotencyTable, 'id')) {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: names.idempotencyTable,
        TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
      }),
    )
  }
  await createTable(client, names.paymentsTable, 'paymentId')
  await createTable(client, names.ordersTable, 'orderId')
  if (await createTable(client, names.stockTable, 'sku')) {
    for (const [sku, available] of Object.entries(initialStock)) {
      await client.send(
        new PutItemCommand({
          TableName: names.stockTable,
          Item: { sku: { S: sku }, available: { N: String(available) } },
        }),
      )
    }
  }
}

/** Creates a table with a String partition key; `false` when it already existed. */
const createTable = async (client: DynamoDBClient, tableName: string, partitionKey: string) => {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [{ AttributeName: partitionKey, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: partitionKey, KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    )
    return true
  } catch (error) {
    if (error instanceof ResourceInUseException) return false
    throw error
  }
}
