// The payment handler made idempotent with Powertools, configured as bench/sides/powertools.ts does.
import { IdempotencyConfig } from '@aws-lambda-powertools/idempotency'
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb'
import { makeHandlerIdempotent } from '@aws-lambda-powertools/idempotency/middleware'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import middy from '@middy/core'
import { createPayment } from '../sides/payment.js'

const persistenceStore = new DynamoDBPersistenceLayer({
  tableName: process.env.IDEMPOTENCY_TABLE ?? 'idempotency',
  awsSdkV3Client: new DynamoDBClient({}),
})
const config = new IdempotencyConfig({
  eventKeyJmesPath: 'headers."idempotency-key"',
  payloadValidationJmesPath: 'powertools_json(body)',
  throwOnNoIdempotencyKey: true,
})
export const handler = middy(createPayment).use(makeHandlerIdempotent({ persistenceStore, config }))
