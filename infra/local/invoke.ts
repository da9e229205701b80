import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { inspect, parseArgs } from 'node:util'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs'
import { type DynamoDBLocal, localClientConfig, startDynamoDBLocal } from './dynamodb-local.js'
import { localLambdaContext } from './lambda-context.js'
import { type LocalSqs, startLocalSqs } from './local-sqs.js'
import { createSampleTables, sampleTableNames } from './sample-tables.js'

// `npm run invoke -- <function> <event-file> [--repeat n]`: one sample function, one event.
const functions = {
  payment: { module: '../functions/payment.js', name: 'Payment' },
  'order-consumer': { module: '../functions/order-consumer.js', name: 'OrderConsumer' },
} as const

const usage = `npm run invoke -- <function> <event-file> [--repeat <n>]

  <function>    ${Object.keys(functions).join(' | ')}
  <event-file>  a JSON event, e.g. events/sample-apigw-v2-post-payment.json or events/sample-sqs-order-paid.json
  --repeat <n>  invoke n times with the same event (default 1): the second time is a replay

  DYNAMODB_ENDPOINT  the DynamoDB to use (npm start prints its own); unset: an embedded DynamoDB Local for this run
  SQS_ENDPOINT and ORDER_EVENTS_QUEUE_URL  the queue the payment function sends to; unset: a local queue for this run
  IDEMPOTENCY_TABLE, PAYMENTS_TABLE, ORDERS_TABLE, STOCK_TABLE  default to npm start's names (sample-*)`

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { repeat: { type: 'string', default: '1' }, help: { type: 'boolean', default: false } },
})
const [functionName, eventFile] = positionals
if (values.help || functionName === undefined || eventFile === undefined) {
  console.log(usage)
  process.exit(values.help ? 0 : 2)
}
if (!(functionName in functions)) {
  console.error(
    `unknown function ${JSON.stringify(functionName)}: use one of ${Object.keys(functions).join(', ')}`,
  )
  process.exit(2)
}
const repeat = Number(values.repeat)
if (!Number.isInteger(repeat) || repeat < 1) {
  console.error(`--repeat must be a positive integer, got ${JSON.stringify(values.repeat)}`)
  process.exit(2)
}
let event: unknown
try {
  event = JSON.parse(readFileSync(resolve(eventFile), 'utf8'))
} catch (error) {
  console.error(`cannot read the event ${eventFile}: ${(error as Error).message}`)
  process.exit(2)
}

inspect.defaultOptions.breakLength = Number.POSITIVE_INFINITY
const target = functions[functionName as keyof typeof functions]
const stops: (() => Promise<void>)[] = []
try {
  let dynamodbEndpoint = process.env.DYNAMODB_ENDPOINT
  if (!dynamodbEndpoint) {
    const dynamo: DynamoDBLocal = await startDynamoDBLocal()
    stops.push(dynamo.stop)
    dynamodbEndpoint = dynamo.endpoint
    console.log(`DYNAMODB_ENDPOINT is not set: started DynamoDB Local on ${dynamodbEndpoint} for this run`)
  }
  const defaults = sampleTableNames('sample')
  const tables = {
    idempotencyTable: process.env.IDEMPOTENCY_TABLE || defaults.idempotencyTable,
    paymentsTable: process.env.PAYMENTS_TABLE || defaults.paymentsTable,
    ordersTable: process.env.ORDERS_TABLE || defaults.ordersTable,
    stockTable: process.env.STOCK_TABLE || defaults.stockTable,
  }
  const dynamodb = new DynamoDBClient(localClientConfig(dynamodbEndpoint))
  await createSampleTables(dynamodb, tables)
  dynamodb.destroy()

  let sqs: LocalSqs | undefined
  if (!process.env.SQS_ENDPOINT || !process.env.ORDER_EVENTS_QUEUE_URL) {
    sqs = await startLocalSqs()
    stops.push(sqs.stop)
  }
  Object.assign(process.env, {
    AWS_REGION: process.env.AWS_REGION || 'us-east-1',
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID || 'local',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY || 'local',
    DYNAMODB_ENDPOINT: dynamodbEndpoint,
    IDEMPOTENCY_TABLE: tables.idempotencyTable,
    PAYMENTS_TABLE: tables.paymentsTable,
    ORDERS_TABLE: tables.ordersTable,
    STOCK_TABLE: tables.stockTable,
    ...(sqs === undefined ? {} : { SQS_ENDPOINT: sqs.endpoint, ORDER_EVENTS_QUEUE_URL: sqs.queueUrl }),
  })

  const { handler } = (await import(target.module)) as {
    handler: (event: unknown, context: ReturnType<typeof localLambdaContext>) => Promise<unknown>
  }
  for (let run = 1; run <= repeat; run++) {
    const result = await handler(structuredClone(event), localLambdaContext(target.name, 10_000))
    console.log(`${target.name} returned${repeat > 1 ? ` (invocation ${run})` : ''}:`)
    console.log(JSON.stringify(result, null, 2))
  }

  if (sqs !== undefined) {
    const { Messages = [] } = await sqs.client.send(
      new ReceiveMessageCommand({ QueueUrl: sqs.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    )
    for (const message of Messages) console.log(`sent to the order events queue: ${message.Body}`)
  }
} catch (error) {
  console.error(`npm run invoke failed: ${(error as Error).message}`)
  process.exitCode = 1
} finally {
  for (const stop of stops.reverse()) await stop()
}
