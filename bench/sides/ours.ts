import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { APIGatewayProxyEventV2 } from 'aws-lambda'
// The compiled package (dist/, built by `npm run bench`), as users run it and as Powertools is
// measured (its published JavaScript): tsx's transform of the sources names every function it
// creates at run time (esbuild's keepNames), which costs microseconds per call that no user pays.
import { DynamoDBStore, hashJson, idempotent } from '../../dist/index.js'

/** Which job the middleware does: key in the Idempotency-Key header, or the JSON body as the key. */
export type Job = 'header' | 'body-key'

/** Entries of the local cache when it is on (Powertools' default `maxLocalCacheSize` is 1000 too). */
export const LOCAL_CACHE_ENTRIES = 1000

/**
 * lambda-idempotency configured for a job, the way its README shows it:
 * - `header`: `idempotent({ store })`. On an API Gateway event the key is the `Idempotency-Key`
 *   header and the fingerprint is method + path + the body's canonical JSON, with no option.
 * - `body-key`: the key is the SHA-256 of the body's canonical JSON (`hashJson`), and no separate
 *   fingerprint (`fingerprint: false`), since the key already is the whole body.
 */
export const oursMiddleware = (
  client: DynamoDBClient,
  tableName: string,
  job: Job,
  options: { localCache?: boolean } = {},
) => {
  const store = new DynamoDBStore({ client, tableName })
  const localCache = options.localCache ? LOCAL_CACHE_ENTRIES : 0
  if (job === 'header') return idempotent<APIGatewayProxyEventV2>({ store, localCache })
  return idempotent<APIGatewayProxyEventV2>({
    store,
    key: (event) => hashJson(event.body ?? 'null'),
    fingerprint: false,
    localCache,
  })
}
