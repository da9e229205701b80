// Calls the README's handler (handler.ts, compiled by the project's tsc) as Lambda would, twice with
// one Idempotency-Key, against the DynamoDB in AWS_ENDPOINT_URL_DYNAMODB and IDEMPOTENCY_TABLE.
import { charges, handler } from './handler.js'

const event = {
  version: '2.0',
  rawPath: '/payments',
  headers: { 'idempotency-key': process.argv[2] },
  body: JSON.stringify({ amount: 4200 }),
  requestContext: { http: { method: 'POST', path: '/payments' } },
}
const context = { functionName: 'payments', getRemainingTimeInMillis: () => 30_000 }
const first = await handler(event, context)
const retry = await handler(event, context)
console.log(JSON.stringify({ first, retry, charges }))
