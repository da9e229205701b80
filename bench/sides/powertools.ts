import { IdempotencyConfig } from '@aws-lambda-powertools/idempotency'
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb'
import { makeHandlerIdempotent } from '@aws-lambda-powertools/idempotency/middleware'
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { Job } from './ours.js'

/**
 * Powertools configured for the same job, the way its documentation recommends:
 * - `header`: `eventKeyJmesPath: 'headers."idempotency-key"'` (HTTP APIs lower-case header names),
 *   `payloadValidationJmesPath: 'powertools_json(body)'` (the parsed body must match on a retry),
 *   `throwOnNoIdempotencyKey: true` (a request without the header is refused, as ours does).
 * - `body-key`: `eventKeyJmesPath: 'powertools_json(body)'`, the docs' advice for JSON APIs, no
 *   separate validation (the key already is the whole body).
 * Both with the `makeHandlerIdempotent` Middy middleware and a `DynamoDBPersistenceLayer` given the
 * same client (`awsSdkV3Client`). Everything else is left at its default (MD5 hashes, 1 hour expiry).
 */
export const powertoolsMiddleware = (
  client: DynamoDBClient,
  tableName: string,
  job: Job,
  options: { localCache?: boolean } = {},
) => {
  const persistenceStore = new DynamoDBPersistenceLayer({ tableName, awsSdkV3Client: client })
  const useLocalCache = options.localCache === true
  const config = new IdempotencyConfig(
    job === 'header'
      ? {
          eventKeyJmesPath: 'headers."idempotency-key"',
          payloadValidationJmesPath: 'powertools_json(body)',
          throwOnNoIdempotencyKey: true,
          useLocalCache,
        }
      : { eventKeyJmesPath: 'powertools_json(body)', throwOnNoIdempotencyKey: true, useLocalCache },
  )
  return makeHandlerIdempotent({ persistenceStore, config })
}
