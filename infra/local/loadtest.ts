import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { type DynamoDBLocal, startDynamoDBLocal } from './dynamodb-local.js'
import { formatLoadReport } from './load-report.js'
import type { LoadSample } from './load-sample.js'
import { startLoadSampleProcess } from './load-sample-process.js'
import { runLoadScenario } from './load-scenario.js'

// `npm run loadtest [-- --requests 10000 ...]`: the local sample under load; exits 1 if a must fails.
const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '10000' },
    keys: { type: 'string', default: '100' },
    connections: { type: 'string', default: '20' },
    messages: { type: 'string', default: '1000' },
    duplicates: { type: 'string', default: '0.3' },
    pollers: { type: 'string', default: '5' },
    seed: { type: 'string', default: '1' },
    'provider-latency': { type: 'string', default: '100' },
    help: { type: 'boolean', default: false },
  },
})

if (values.help) {
  console.log(`npm run loadtest -- [options]

Starts DynamoDB Local, then the local sample (API, functions, fauxqs, pollers) in a child process,
drives POST /payments with autocannon and the order consumer with duplicate messages, and checks
that nothing ran twice and nothing was lost. Exits 1 if a check fails.

  --requests <n>          payment requests in all (default 10000)
  --keys <n>              distinct Idempotency-Keys (default 100)
  --connections <n>       concurrent HTTP connections (default 20)
  --messages <n>          order_paid messages, duplicates included (default 1000)
  --duplicates <share>    share of the messages that repeat an event (default 0.3)
  --pollers <n>           concurrent queue pollers calling the consumer (default 5)
  --seed <n>              seeds the key draw and the message order (default 1)
  --provider-latency <ms> time the simulated provider takes per new charge (default 100)`)
  process.exit(0)
}

const integer = (name: string, value: string | undefined, minimum: number): number => {
  const parsed = Number(value)
  if (!Number.isSafeInteger(parsed) || parsed < minimum) {
    console.error(`--${name} must be an integer of at least ${minimum}, got ${JSON.stringify(value)}`)
    process.exit(2)
  }
  return parsed
}
const duplicateShare = Number(values.duplicates)
if (!(duplicateShare >= 0 && duplicateShare < 1)) {
  console.error(`--duplicates must be a share from 0 to below 1, got ${JSON.stringify(values.duplicates)}`)
  process.exit(2)
}
const scenario = {
  requests: integer('requests', values.requests, 1),
  keys: integer('keys', values.keys, 1),
  connections: integer('connections', values.connections, 1),
  messages: integer('messages', values.messages, 1),
  duplicateShare,
  seed: integer('seed', values.seed, 0),
}
const pollers = integer('pollers', values.pollers, 1)
const providerLatencyMs = integer('provider-latency', values['provider-latency'], 0)

const started = new Date()
const logFile = join(
  tmpdir(),
  `lambda-idempotency-loadtest-${started.toISOString().replaceAll(':', '-')}.log`,
)
const load = loadavg().map((value) => value.toFixed(2))
console.log(
  `Load test, ${started.toISOString()}: Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), load average ${load.join(' ')} (1, 5, 15 min)`,
)
console.log(`The sample's own output (API lines, function logs, EMF lines) goes to ${logFile}\n`)

// Everything this run started, stopped in reverse order whatever happens.
const stops: (() => Promise<void>)[] = []
const stopAll = async () => {
  for (const stop of stops.splice(0).reverse()) {
    await stop().catch((error) => console.error(`stopping failed: ${(error as Error).message}`))
  }
}
let interrupted = false
const interrupt = () => {
  if (interrupted) return
  interrupted = true
  console.error('\ninterrupted: stopping...')
  void stopAll().then(() => process.exit(130))
}
process.on('SIGINT', interrupt)
process.on('SIGTERM', interrupt)

let exitCode = 1
// A run that hangs is ended: nothing in it should take this long on a 2-core machine.
const overall = setTimeout(() => {
  console.error('the load test did not finish within 20 minutes: stopping')
  void stopAll().then(() => process.exit(1))
}, 20 * 60_000)
try {
  const dynamo: DynamoDBLocal = await startDynamoDBLocal()
  stops.push(dynamo.stop)
  const sample: LoadSample = await startLoadSampleProcess({
    dynamodbEndpoint: dynamo.endpoint,
    tablePrefix: 'load',
    pollers,
    providerLatencyMs,
    logFile,
  })
  stops.push(sample.stop)
  console.log(
    `Sample on ${sample.url}, DynamoDB Local on ${dynamo.endpoint}, fauxqs on ${sample.sqsEndpoint}\n`,
  )

  const report = await runLoadScenario(sample, scenario)
  console.log(formatLoadReport(report))
  // The run loads the machine itself (load generator, sample, DynamoDB Local): the end says how much.
  console.log(
    `Load average at the end: ${loadavg()
      .map((value) => value.toFixed(2))
      .join(' ')}`,
  )
  exitCode = report.checks.every((check) => check.ok) ? 0 : 1
} catch (error) {
  console.error(`the load test failed: ${(error as Error).stack}`)
} finally {
  clearTimeout(overall)
  await stopAll()
}
if (!interrupted) process.exit(exitCode)
