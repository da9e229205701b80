/**
 * Where a library's CPU goes for one case of the CPU benchmark: runs the case's calls under the V8
 * sampling profiler (node:inspector) and prints self time grouped by source file and by function.
 *
 *   npm run build && node --import tsx bench/profile.ts small-replay ours [calls]
 *   node --import tsx bench/profile.ts large-validate-first powertools
 *
 * Cases are the ids of bench/cpu.ts; the fake client answers `send` in process (library only).
 */
import { randomUUID } from 'node:crypto'
import { Session } from 'node:inspector/promises'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { APIGatewayProxyEventV2 } from 'aws-lambda'
import { cpuCases } from './cpu.js'
import { lambdaContext, largeEvent, smallEvent } from './events.js'
import { fakeDynamoDBClient } from './fake-dynamodb.js'
import { oursMiddleware } from './sides/ours.js'
import { createPayment, wrap } from './sides/payment.js'
import { powertoolsMiddleware } from './sides/powertools.js'

const [caseId = 'small-replay', library = 'ours', callsText] = process.argv.slice(2)
const testCase = cpuCases(1, 'send').find((item) => item.id === caseId)
if (testCase === undefined) {
  throw new Error(
    `unknown case ${caseId}: one of ${cpuCases(1, 'send')
      .map((item) => item.id)
      .join(', ')}`,
  )
}
if (library !== 'ours' && library !== 'powertools')
  throw new Error(`library must be ours or powertools, got ${library}`)
const calls = Number(callsText ?? (testCase.event === 'small' ? 20_000 : 400))

const root = fileURLToPath(new URL('..', import.meta.url))
const fake = fakeDynamoDBClient('send')
const localCache = testCase.phase === 'replay-cached'
const middleware =
  library === 'ours'
    ? oursMiddleware(fake.client, 'bench', testCase.job, { localCache })
    : powertoolsMiddleware(fake.client, 'bench', testCase.job, { localCache })
const handler = wrap(createPayment, middleware)
const context = lambdaContext()
const key = randomUUID()
const order = randomUUID()
const makeEvent = (): APIGatewayProxyEventV2 => {
  if (testCase.phase === 'first') return testCase.event === 'small' ? smallEvent() : largeEvent()
  return testCase.event === 'small' ? smallEvent(key) : largeEvent(order, key)
}
const run = async (events: APIGatewayProxyEventV2[]) => {
  for (const event of events) await handler(event, context)
}

await run(Array.from({ length: Math.min(calls, 2_000) }, makeEvent)) // warm-up; fills the record replays use
const events = Array.from({ length: calls }, makeEvent) // made before profiling: not the library's work
const session = new Session()
session.connect()
await session.post('Profiler.enable')
await session.post('Profiler.setSamplingInterval', { interval: 50 })
await session.post('Profiler.start')
const started = process.cpuUsage()
await run(events)
const used = process.cpuUsage(started)
const { profile } = await session.post('Profiler.stop')
session.disconnect()

// Self time per node = its share of samples.
const sampleCounts = new Map<number, number>()
for (const id of profile.samples ?? []) sampleCounts.set(id, (sampleCounts.get(id) ?? 0) + 1)
const total = profile.samples?.length ?? 1
const perCallUs = (used.user + used.system) / calls
const byFile = new Map<string, number>()
const byFunction = new Map<string, number>()
for (const node of profile.nodes) {
  const samples = sampleCounts.get(node.id) ?? 0
  if (samples === 0) continue
  const { url, functionName, lineNumber } = node.callFrame
  const path = url.startsWith('file://')
    ? relative(root, fileURLToPath(url))
    : url || `(${functionName || 'native'})`
  const file = path.replace(/^node_modules\/((?:@[^/]+\/)?[^/]+)\/.*/, '$1')
  byFile.set(file, (byFile.get(file) ?? 0) + samples)
  const name = `${functionName || '(anonymous)'} ${path}:${lineNumber + 1}`
  byFunction.set(name, (byFunction.get(name) ?? 0) + samples)
}
const print = (title: string, entries: Map<string, number>, limit: number) => {
  process.stdout.write(`\n${title}\n`)
  for (const [name, samples] of [...entries].sort((a, b) => b[1] - a[1]).slice(0, limit)) {
    const share = samples / total
    process.stdout.write(
      `  ${(share * 100).toFixed(1).padStart(5)}%  ${(share * perCallUs).toFixed(1).padStart(8)} us/call  ${name}\n`,
    )
  }
}
process.stdout.write(
  `${library} ${caseId}: ${calls} calls, ${perCallUs.toFixed(1)} us CPU per call (handler and Middy included)\n`,
)
print('self time by source (package or file):', byFile, 20)
print('self time by function:', byFunction, 30)
