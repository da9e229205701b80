import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import {
  IdempotencyInProgressError,
  type IdempotencyStore,
  IdempotencyStoreError,
  makeIdempotent,
  recordId,
} from '../../src/index.js'
import { decodeResult, unpackResult } from '../../src/result-codec.js'
import { type Attempt, CrashedError, type Fault, invocationStore, type World } from './faulty-store.js'
import { applyOp, type ModelState, normalize, normalizeAnswer } from './reference-model.js'

/*
 * The protocol end to end: concurrent calls of makeIdempotent on two keys, each a Lambda instance
 * with its own clock, under a scheduler that picks the order in which their store calls arrive and
 * their answers return, while clocks advance and jump, invocations crash at any step and store calls
 * fail (throttled, timed out, or timed out after the write). Then replays. The assertions are the
 * promises, not the details: the store answered what the contract allows, the work ran only under
 * a claim and at most once per claim, a replay equals what the run that completed returned, a
 * failed run gave the key up, and every caller got its own result, a replay, or an error that says
 * why.
 */

const KEYS = ['k0', 'k1'] as const

interface InvocationPlan {
  caller: number
  key: (typeof KEYS)[number]
  fails: boolean
  crashes: boolean
}

class WorkFailed extends Error {
  override name = 'WorkFailed'
}

const caller = fc.integer({ min: 0, max: 2 })
const key = fc.constantFrom(...KEYS)
const fault: fc.Arbitrary<Fault> = fc.oneof(
  { weight: 12, arbitrary: fc.constant('ok' as const) },
  { weight: 1, arbitrary: fc.constantFrom<Fault>('throttle', 'timeout', 'lost-answer') },
)

const sometimes = fc.oneof(
  { weight: 3, arbitrary: fc.constant(false) },
  { weight: 1, arbitrary: fc.constant(true) },
)

/** One generated schedule. */
export const protocolScenario = fc.record({
  startMs: fc.integer({ min: 0, max: 999 }).map((ms) => Date.UTC(2026, 10, 28, 12) + ms),
  leaseMs: fc.constantFrom(500, 1_000, 2_000),
  ttlSeconds: fc.constantFrom(1, 2),
  skews: fc.array(fc.integer({ min: -1_500, max: 1_500 }), { minLength: 3, maxLength: 3 }),
  invocations: fc.array(
    fc.record({
      caller,
      key,
      fails: sometimes,
      crashes: sometimes,
    }),
    { minLength: 1, maxLength: 5 },
  ),
  replays: fc.array(fc.record({ caller, key }), { maxLength: 2 }),
  ticks: fc.array(fc.oneof(fc.integer({ min: 1, max: 2_500 }), fc.constantFrom(1_000, 86_400_000)), {
    maxLength: 4,
  }),
  jumps: fc.array(fc.record({ caller, skewMs: fc.integer({ min: -5_000, max: 5_000 }) }), { maxLength: 2 }),
  faults: fc.array(fault, { maxLength: 16 }),
  scheduler: fc.scheduler(),
})

export type ProtocolScenario = typeof protocolScenario extends fc.Arbitrary<infer T> ? T : never

/** The property: every generated schedule keeps the protocol's promises on `store`. */
export const protocolModelProperty = (store: IdempotencyStore) =>
  fc.asyncProperty(protocolScenario, async (scenario) => {
    const s = scenario.scheduler
    const name = `model-${randomUUID()}`
    const world: World = { scheduler: s, store, log: [], faults: [...scenario.faults], crashed: new Set() }
    let t = scenario.startMs
    const skew = [...scenario.skews]
    const runs: { invocation: number; key: string }[] = []
    const attempts: Attempt[][] = []
    const settled = new Set<number>()
    const plans: InvocationPlan[] = []

    const invoke = (index: number, plan: InvocationPlan) => {
      plans[index] = plan
      attempts[index] = []
      const work = async (input: { key: string }) => {
        if (world.crashed.has(index)) throw new CrashedError(`invocation ${index} crashed`)
        runs.push({ invocation: index, key: input.key })
        await s.schedule(Promise.resolve(), `work of ${index}`)
        if (world.crashed.has(index)) throw new CrashedError(`invocation ${index} crashed in its work`)
        if (plan.fails) throw new WorkFailed(`the work of invocation ${index} failed`)
        return { key: input.key, by: index }
      }
      const fn = makeIdempotent(work, {
        store: invocationStore(world, index, attempts[index] as Attempt[]),
        name,
        key: (input) => input.key,
        now: () => t + (skew[plan.caller] ?? 0),
        leaseMs: scenario.leaseMs,
        ttlSeconds: scenario.ttlSeconds,
        logger: false,
      })
      if (plan.crashes) {
        s.schedule(Promise.resolve(), `crash of ${index}`).then(() => {
          // A process that already answered has nothing left to lose.
          if (!settled.has(index)) world.crashed.add(index)
        })
      }
      return fn({ key: plan.key }).then(
        (value) => {
          settled.add(index)
          return { value } as const
        },
        (error: unknown) => {
          settled.add(index)
          return { error } as const
        },
      )
    }

    for (const ms of scenario.ticks) {
      s.schedule(Promise.resolve(), `advance ${ms}ms`).then(() => {
        t += ms
      })
    }
    for (const jump of scenario.jumps) {
      s.schedule(Promise.resolve(), `clock of caller ${jump.caller} jumps to ${jump.skewMs}ms`).then(() => {
        skew[jump.caller] = jump.skewMs
      })
    }
    const outcomes = await s.waitFor(Promise.all(scenario.invocations.map((plan, i) => invoke(i, plan))))
    const first = outcomes.length
    const replayPlans = scenario.replays.map((plan) => ({ ...plan, fails: false, crashes: false }))
    outcomes.push(...(await s.waitFor(Promise.all(replayPlans.map((plan, j) => invoke(first + j, plan))))))

    checkPromises({ world, runs, attempts, plans, outcomes, name, scenario, t0: scenario.startMs })
  })

type Outcome = { readonly value: unknown } | { readonly error: unknown }

interface Observed {
  world: World
  runs: { invocation: number; key: string }[]
  attempts: Attempt[][]
  plans: InvocationPlan[]
  outcomes: Outcome[]
  name: string
  scenario: ProtocolScenario
  t0: number
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

const checkPromises = ({ world, runs, attempts, plans, outcomes, name, scenario, t0 }: Observed) => {
  const keyOf = new Map(KEYS.map((k) => [recordId({ functionName: '', name, scope: '' }, k), k]))
  const show = (value: unknown) => {
    let text = JSON.stringify(value)
    for (const [id, k] of keyOf) text = text.replaceAll(id, k)
    return text
  }
  const rel = (ms: number) => `${ms - t0}ms`
  const fail = (message: string): never => {
    throw new Error(message)
  }

  // 1. Every store answer is one the contract allows, in the order the store saw the calls.
  const state: ModelState = new Map()
  const completedBy = new Map<string, unknown[]>()
  for (const entry of world.log) {
    const { step } = entry
    if (step.op === 'get') {
      const record = 'record' in entry ? entry.record : undefined
      if (!same(normalize(record), normalize(state.get(step.id)))) {
        fail(
          `get by ${entry.invocation} read ${show(normalize(record))}; the model holds ${show(normalize(state.get(step.id)))}`,
        )
      }
      continue
    }
    const answer = 'answer' in entry ? entry.answer : undefined
    const allowed = applyOp(state, step)
    if (!same(normalizeAnswer(answer as never), normalizeAnswer(allowed))) {
      const at = step.op === 'claim' ? ` at ${rel(step.request.nowMs)}` : ''
      fail(
        `${step.op} by invocation ${entry.invocation}${at} answered ${show(normalizeAnswer(answer as never))}; the contract allows ${show(normalizeAnswer(allowed))}`,
      )
    }
    if (step.op === 'claim') {
      // The lease is the one configured, and the claim outlives it (expiry never frees a key mid-run).
      const { request } = step
      if (request.leaseExpiresAtMs !== request.nowMs + scenario.leaseMs) {
        fail(
          `claim by ${entry.invocation}: lease ends ${request.leaseExpiresAtMs - request.nowMs}ms after now, not ${scenario.leaseMs}`,
        )
      }
      if (request.expiresAtSeconds * 1000 < request.leaseExpiresAtMs) {
        fail(`claim by ${entry.invocation} expires at ${request.expiresAtSeconds}s, before its lease ends`)
      }
    }
    if (step.op === 'complete' && answer === true) {
      const k = keyOf.get(step.id) ?? '?'
      completedBy.set(k, [...(completedBy.get(k) ?? []), decodeResult(unpackResult(step.result))])
    }
  }

  // 2. The work ran only under a claim its invocation won, at most once per invocation.
  const ranBy = new Map<number, number>()
  for (const run of runs) ranBy.set(run.invocation, (ranBy.get(run.invocation) ?? 0) + 1)
  for (const [invocation, count] of ranBy) {
    if (count > 1) fail(`the work of invocation ${invocation} ran ${count} times`)
    const won = world.log.some(
      (entry) =>
        entry.invocation === invocation &&
        entry.step.op === 'claim' &&
        'answer' in entry &&
        (entry.answer as { claimed: boolean }).claimed,
    )
    if (!won) fail(`the work of invocation ${invocation} ran without a claim the store granted`)
  }

  // 3. A stored result is what the run that completed it returned.
  for (const [k, results] of completedBy) {
    for (const result of results) {
      const by = (result as { by?: number }).by
      if (!same(result, { key: k, by }))
        fail(`${k} was completed with ${show(result)}, not the work's result`)
      if (!ranBy.has(by as number))
        fail(`${k} was completed with the result of invocation ${by}, which never ran`)
    }
  }

  // 4. Every caller whose process lived got its own result, a replay of a stored one, or an error that says why.
  outcomes.forEach((outcome, i) => {
    if (world.crashed.has(i)) return
    const plan = plans[i] as InvocationPlan
    const mine = attempts[i] ?? []
    const ran = ranBy.has(i)
    if (ran && !plan.fails) {
      if (!same('value' in outcome ? outcome.value : outcome.error, { key: plan.key, by: i })) {
        fail(
          `invocation ${i} ran its work but answered ${show('value' in outcome ? outcome.value : String(outcome.error))}`,
        )
      }
      if (!mine.some((a) => a.op === 'complete'))
        fail(`invocation ${i} ran its work and never tried to complete`)
      return
    }
    if (ran) {
      if (!('error' in outcome && outcome.error instanceof WorkFailed)) {
        fail(`invocation ${i}'s work failed but it answered ${show(outcome)}`)
      }
      if (!mine.some((a) => a.op === 'release'))
        fail(`invocation ${i}'s work failed and it never released its key`)
      return
    }
    if ('value' in outcome) {
      const stored = completedBy.get(plan.key) ?? []
      if (!stored.some((result) => same(result, outcome.value))) {
        fail(
          `invocation ${i} replayed ${show(outcome.value)} for ${plan.key}; stored results: ${show(stored)}`,
        )
      }
      return
    }
    const { error } = outcome
    if (error instanceof IdempotencyInProgressError) {
      const refused = world.log.some(
        (entry) =>
          entry.invocation === i &&
          entry.step.op === 'claim' &&
          'answer' in entry &&
          !(entry.answer as { claimed: boolean }).claimed,
      )
      if (!refused) fail(`invocation ${i} answered in-progress, but the store never refused its claim`)
      return
    }
    if (error instanceof IdempotencyStoreError) {
      if (!mine.some((a) => a.op === 'claim' && a.fault !== 'ok')) {
        fail(`invocation ${i} answered a store error, but no fault hit its claim`)
      }
      return
    }
    fail(`invocation ${i} answered ${String(error)}`)
  })
}
