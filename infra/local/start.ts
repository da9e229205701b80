import { inspect, parseArgs } from 'node:util'
import { hideEmfLines } from './emf-lines.js'
import { startLocalSample } from './local-sample.js'

// `npm start [-- --port 3000 --duplicates --payload 1.0 --emf]`: the sample API on this machine.
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '3000' },
    duplicates: { type: 'boolean', default: false },
    payload: { type: 'string', default: '2.0' },
    'dynamodb-endpoint': { type: 'string' },
    emf: { type: 'boolean', default: process.env.SHOW_EMF === '1' },
    help: { type: 'boolean', default: false },
  },
})

if (values.help) {
  console.log(`npm start -- [options]

  --port <n>                  port of the API on 127.0.0.1 (default 3000, or $PORT; 0 picks a free one)
  --duplicates                deliver every batch of the order events queue twice
  --payload 2.0|1.0           API Gateway payload: 2.0 = HTTP API (the stack's), 1.0 = REST API
  --dynamodb-endpoint <url>   use this DynamoDB instead of starting DynamoDB Local
  --emf                       also print the functions' CloudWatch metric lines ({"_aws":...}; or SHOW_EMF=1)`)
  process.exit(0)
}

const port = Number(values.port)
if (!Number.isInteger(port) || port < 0 || port > 65_535) {
  console.error(`--port must be a port number, got ${JSON.stringify(values.port)}`)
  process.exit(2)
}
if (values.payload !== '2.0' && values.payload !== '1.0') {
  console.error(`--payload must be 2.0 (HTTP API) or 1.0 (REST API), got ${JSON.stringify(values.payload)}`)
  process.exit(2)
}

// The functions log structured fields (JSON lines in AWS); here, one line per log call.
inspect.defaultOptions.breakLength = Number.POSITIVE_INFINITY
// The functions print one EMF line per outcome for CloudWatch; locally the story lines come first.
hideEmfLines(process.stdout, { showEmf: values.emf })

let sample: Awaited<ReturnType<typeof startLocalSample>>
try {
  sample = await startLocalSample({
    port,
    duplicateDeliveries: values.duplicates,
    payloadVersion: values.payload,
    dynamodbEndpoint: values['dynamodb-endpoint'],
  })
} catch (error) {
  const message =
    (error as NodeJS.ErrnoException).code === 'EADDRINUSE'
      ? `port ${port} is taken: try npm start -- --port 3001`
      : (error as Error).message
  console.error(`npm start failed: ${message}`)
  process.exit(1)
}

console.log(`
The sample payment API listens on ${sample.url}
  Open ${sample.url}/ in a browser: pay, retry, and watch the records, charges and orders live.

  POST ${sample.url}/payments       (Idempotency-Key header required)
  GET  ${sample.url}/_local/state   records, provider charges, payments, orders, stock, queue (local only)

  DynamoDB   ${sample.dynamodbEndpoint}   tables ${Object.values(sample.tables).join(', ')}
  SQS        ${sample.sqs.endpoint}   queue ${sample.sqs.queueUrl}
  payload    ${values.payload === '2.0' ? 'HTTP API (2.0)' : 'REST API (1.0)'}${values.duplicates ? ', every queue batch delivered twice' : ''}
  metrics    ${values.emf ? 'EMF lines ({"_aws":...}) printed, as CloudWatch gets them' : 'EMF lines hidden (npm start -- --emf shows them)'}

Try:
  curl -i ${sample.url}/payments -H 'Idempotency-Key: demo-quick-1' -H 'content-type: application/json' \\
    -d '{"amount": 4200, "currency": "EUR", "customer": "cus_42", "sku": "sku_coffee", "quantity": 1}'
  (run it twice: the second answer is the same payment, with Idempotent-Replayed: true)

Ctrl+C stops everything.
`)

let stopping = false
const shutdown = async () => {
  if (stopping) return
  stopping = true
  console.log('stopping...')
  await sample.stop()
  process.exit(0)
}
process.on('SIGINT', shutdown)
process.on('SIGTERM', shutdown)
