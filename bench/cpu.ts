import { randomUUID } from 'node:crypto'
import type { APIGatewayProxyEventV2 } from 'aws-lambda'
import { lambdaContext, largeEvent, smallEvent } from './events.js'
import { type FakeMode, fakeDynamoDBClient } from './fake-dynamodb.js'
import { type Job, oursMiddleware } from './sides/ours.js'
import { createPayment, wrap } from './sides/payment.js'
import { powertoolsMiddleware } from './sides/powertools.js'
import { type Summary, shuffle, summarize } from './stats.js'

/** One CPU measurement: an event shape, a job, a phase. */
export interface CpuCase {
  id: string
  label: string
  event: 'small' | 'large'
  job: Job
  phase: 'first' | 'replay' | 'replay-cached'
  /** `send`: library CPU only; `stack`: plus the SDK's per-command middleware work. */
  mode: FakeMode
  callsPerBatch: number
  rounds: number
}

export interface CpuResult extends CpuCase {
  /** Library CPU per call, microseconds: wrapped minus bare, paired within each round. */
  ours: Summary
  powertools: Summary
  /** CPU per call of the bare Middy handler, microseconds (what was subtracted). */
  bare: Summary
  /** Wall time per call, microseconds, wrapped minus bare (for reference). */
  oursWall: Summary
  powertoolsWall: Summary
}

const WARMUP_ROUNDS = 5

/** The measured cases; `scale` shortens them for a quick run. */
export const cpuCases = (scale: number, mode: FakeMode): CpuCase[] => {
  const small = { mode, callsPerBatch: 100, rounds: Math.max(6, Math.round(60 * scale)) }
  const large = { mode, callsPerBatch: 8, rounds: Math.max(6, Math.round(40 * scale)) }
  return [
    {
      id: 'small-first',
      label: 'small event, key in header: first call',
      event: 'small',
      job: 'header',
      phase: 'first',
      ...small,
    },
    {
      id: 'small-replay',
      label: 'small event, key in header: replay',
      event: 'small',
      job: 'header',
      phase: 'replay',
      ...small,
    },
    {
      id: 'small-cached',
      label: 'small event, key in header: replay from local cache',
      event: 'small',
      job: 'header',
      phase: 'replay-cached',
      ...small,
    },
    {
      id: 'large-validate-first',
      label: '100 KB body as fingerprint: first call',
      event: 'large',
      job: 'header',
      phase: 'first',
      ...large,
    },
    {
      id: 'large-validate-replay',
      label: '100 KB body as fingerprint: replay',
      event: 'large',
      job: 'header',
      phase: 'replay',
      ...large,
    },
    {
      id: 'large-key-first',
      label: '100 KB body as key: first call',
      event: 'large',
      job: 'body-key',
      phase: 'first',
      ...large,
    },
    {
      id: 'large-key-replay',
      label: '100 KB body as key: replay',
      event: 'large',
      job: 'body-key',
      phase: 'replay',
      ...large,
    },
  ]
}

type Variant = 'bare' | 'ours' | 'powertools'
type Handler = (event: APIGatewayProxyEventV2) => Promise<unknown>

// A minor GC before each batch clears the previous batch's garbage. Not the full `gc()`: a forced
// full GC also throws away compiled code, which a warm Lambda never does, and would make every
// batch start with a cold JIT.
const gc = () => (globalThis as { gc?: (options: { type: 'minor' }) => void }).gc?.({ type: 'minor' })

/**
 * Library CPU per invocation with the in-process fake DynamoDB: each round runs a batch of calls
 * through the bare handler, ours and Powertools in a random order, and the library's figure for that
 * round is its CPU per call minus the bare handler's. CPU is `process.cpuUsage()` (user + system).
 */
export const measureCpu = async (testCase: CpuCase, log: (line: string) => void): Promise<CpuResult> => {
  const context = lambdaContext()
  let executions = 0
  const work = async (event: APIGatewayProxyEventV2) => {
    executions++
    return createPayment(event)
  }
  const localCache = testCase.phase === 'replay-cached'
  const fakes = { ours: fakeDynamoDBClient(testCase.mode), powertools: fakeDynamoDBClient(testCase.mode) }
  const bind =
    (handler: ReturnType<typeof wrap>): Handler =>
    (event) =>
      handler(event, context)
  const handlers: Record<Variant, Handler> = {
    bare: bind(wrap(work)),
    ours: bind(wrap(work, oursMiddleware(fakes.ours.client, 'bench', testCase.job, { localCache }))),
    powertools: bind(
      wrap(work, powertoolsMiddleware(fakes.powertools.client, 'bench', testCase.job, { localCache })),
    ),
  }

  // Replays reuse one key (and body); first calls get a fresh one every call.
  const replayKey = randomUUID()
  const replayOrder = randomUUID()
  const makeEvent =
    testCase.phase === 'first'
      ? testCase.event === 'small'
        ? () => smallEvent()
        : () => largeEvent()
      : testCase.event === 'small'
        ? () => smallEvent(replayKey)
        : () => largeEvent(replayOrder, replayKey)
  if (testCase.phase !== 'first') {
    for (const variant of ['ours', 'powertools'] as const) await handlers[variant](makeEvent())
  }

  const cpu: Record<Variant, number[]> = { bare: [], ours: [], powertools: [] }
  const wall: Record<Variant, number[]> = { bare: [], ours: [], powertools: [] }
  for (let round = 0; round < WARMUP_ROUNDS + testCase.rounds; round++) {
    for (const variant of shuffle<Variant>(['bare', 'ours', 'powertools'])) {
      if (testCase.phase === 'first') {
        fakes.ours.items.clear()
        fakes.powertools.items.clear()
      }
      const events = Array.from({ length: testCase.callsPerBatch }, makeEvent)
      const handler = handlers[variant]
      executions = 0
      gc()
      const cpuStart = process.cpuUsage()
      const wallStart = performance.now()
      for (const event of events) await handler(event)
      const wallMs = performance.now() - wallStart
      const used = process.cpuUsage(cpuStart)
      const expected = variant === 'bare' || testCase.phase === 'first' ? events.length : 0
      if (executions !== expected) {
        throw new Error(
          `${testCase.id}: ${variant} ran the handler ${executions} times, expected ${expected}`,
        )
      }
      if (round < WARMUP_ROUNDS) continue
      cpu[variant].push((used.user + used.system) / events.length)
      wall[variant].push((wallMs * 1000) / events.length)
    }
  }
  const overhead = (samples: number[], bare: number[]) =>
    samples.map((value, i) => value - (bare[i] as number))
  const result: CpuResult = {
    ...testCase,
    ours: summarize(overhead(cpu.ours, cpu.bare)),
    powertools: summarize(overhead(cpu.powertools, cpu.bare)),
    bare: summarize(cpu.bare),
    oursWall: summarize(overhead(wall.ours, wall.bare)),
    powertoolsWall: summarize(overhead(wall.powertools, wall.bare)),
  }
  log(
    `  ${testCase.label}: ours ${result.ours.median.toFixed(1)} us, Powertools ${result.powertools.median.toFixed(1)} us (bare ${result.bare.median.toFixed(1)} us)`,
  )
  return result
}
