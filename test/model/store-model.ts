import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import type { ClaimRequest, IdempotencyStore } from '../../src/index.js'
import {
  applyOp,
  cloneState,
  type ModelState,
  normalize,
  normalizeAnswer,
  type OpAnswer,
  type StoreOp,
} from './reference-model.js'

/*
 * Generated schedules against a real store: claims, completions and releases by several callers
 * whose clocks jump and disagree, some of them sent concurrently, each checked against the
 * reference model. After every step the record the store holds must equal the model's.
 */

/** What the commands see of the model: records, the shared clock and each caller's skew. */
export interface StoreModel {
  state: ModelState
  /** The reference clock, epoch ms. A caller reads `t + skew[caller]`. */
  t: number
  /** Where the run started, to print times relative to it. */
  t0: number
  skew: number[]
  /** Put before every key so runs that share a table or a Redis never meet. */
  prefix: string
}

export interface StoreReal {
  store: IdempotencyStore
}

const CALLERS = 3
const KEYS = ['k0', 'k1'] as const
const OWNERS = ['o0', 'o1', 'o2'] as const

type Caller = number
const callerNow = (m: StoreModel, caller: Caller) => m.t + (m.skew[caller] ?? 0)
const rel = (m: StoreModel, ms: number) => `${ms - m.t0 >= 0 ? '+' : ''}${ms - m.t0}ms`

/** A step description: the operation it sends, built from the model's clock when it runs. */
interface OpSpec {
  describe(): string
  build(m: StoreModel): StoreOp
  key: string
}

const claimSpec = (
  caller: Caller,
  key: string,
  owner: string,
  leaseMs: number,
  ttlSeconds: number,
  keepAbandoned: boolean,
  fingerprint: string | undefined,
  reentrant: boolean,
): OpSpec => ({
  key,
  describe: () =>
    `claim(${key}, ${owner}, caller ${caller}, lease ${leaseMs}ms, ttl ${ttlSeconds}s${keepAbandoned ? ', keepAbandoned' : ''}${reentrant ? ', reentrant' : ''}${fingerprint === undefined ? '' : `, ${fingerprint}`})`,
  build: (m) => {
    const nowMs = callerNow(m, caller)
    const leaseExpiresAtMs = nowMs + leaseMs
    // As the protocol asks: the claim outlives its lease.
    const expiresAtSeconds = Math.max(
      Math.floor(nowMs / 1000) + ttlSeconds,
      Math.ceil(leaseExpiresAtMs / 1000),
    )
    const request: ClaimRequest = {
      id: m.prefix + key,
      owner,
      fingerprint,
      leaseExpiresAtMs,
      expiresAtSeconds,
      nowMs,
      keepAbandoned,
      ...(reentrant ? { reentrant } : {}),
    }
    return { op: 'claim', request }
  },
})

const completeSpec = (
  caller: Caller,
  key: string,
  owner: string,
  ttlSeconds: number,
  result: string,
): OpSpec => ({
  key,
  describe: () =>
    `complete(${key}, ${owner}, caller ${caller}, ttl ${ttlSeconds}s, ${JSON.stringify(result)})`,
  build: (m) => ({
    op: 'complete',
    id: m.prefix + key,
    owner,
    result,
    expiresAtSeconds: Math.ceil((callerNow(m, caller) + ttlSeconds * 1000) / 1000),
  }),
})

const releaseSpec = (key: string, owner: string): OpSpec => ({
  key,
  describe: () => `release(${key}, ${owner})`,
  build: (m) => ({ op: 'release', id: m.prefix + key, owner }),
})

const send = (store: IdempotencyStore, step: StoreOp): Promise<OpAnswer> => {
  switch (step.op) {
    case 'claim':
      return store.claim(step.request)
    case 'complete':
      return store.complete(step.id, step.owner, step.result, step.expiresAtSeconds)
    case 'release':
      return store.release(step.id, step.owner)
  }
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)
// Records printed without the run's key prefix, so a counterexample reads `k0`, not a UUID.
const show = (m: StoreModel, value: unknown) => JSON.stringify(value).replaceAll(m.prefix, '')

/** Fails the step unless the store holds what the model holds for `key`. */
const checkRecord = async (m: StoreModel, r: StoreReal, key: string, after: string) => {
  const stored = normalize(await r.store.get(m.prefix + key))
  const expected = normalize(m.state.get(m.prefix + key))
  if (!same(stored, expected)) {
    throw new Error(`after ${after}, ${key} holds ${show(m, stored)}; the model holds ${show(m, expected)}`)
  }
}

class OpCommand implements fc.AsyncCommand<StoreModel, StoreReal> {
  constructor(readonly spec: OpSpec) {}
  check = () => true
  async run(m: StoreModel, r: StoreReal) {
    const step = this.spec.build(m)
    const answer = await send(r.store, step)
    const allowed = applyOp(m.state, step)
    if (!same(normalizeAnswer(answer), normalizeAnswer(allowed))) {
      throw new Error(
        `${this.spec.describe()} at ${rel(m, 'request' in step ? step.request.nowMs : m.t)} answered ${show(m, normalizeAnswer(answer))}; the model allows ${show(m, normalizeAnswer(allowed))}`,
      )
    }
    await checkRecord(m, r, this.spec.key, this.spec.describe())
  }
  toString = () => this.spec.describe()
}

/**
 * Two or three operations sent at once. The answers must be those of some order of the
 * operations (they overlap, so any order is a valid linearization) whose final records are the
 * ones the store holds.
 */
class ConcurrentCommand implements fc.AsyncCommand<StoreModel, StoreReal> {
  constructor(readonly specs: OpSpec[]) {}
  check = () => true
  async run(m: StoreModel, r: StoreReal) {
    const steps = this.specs.map((spec) => spec.build(m))
    const answers = (await Promise.all(steps.map((step) => send(r.store, step)))).map(normalizeAnswer)
    const keys = [...new Set(this.specs.map((spec) => spec.key))]
    const held = new Map<string, unknown>()
    for (const key of keys) held.set(key, normalize(await r.store.get(m.prefix + key)))
    for (const order of permutations(steps.map((_, i) => i))) {
      const state = cloneState(m.state)
      const allowed: unknown[] = []
      for (const i of order) allowed[i] = normalizeAnswer(applyOp(state, steps[i] as StoreOp))
      if (!same(allowed, answers)) continue
      if (!keys.every((key) => same(normalize(state.get(m.prefix + key)), held.get(key)))) continue
      m.state = state
      return
    }
    throw new Error(
      `${this.toString()} answered ${show(m, answers)} and left ${show(m, Object.fromEntries(held))}: no order of the operations gives that`,
    )
  }
  toString = () => `together[${this.specs.map((spec) => spec.describe()).join(' | ')}]`
}

class AdvanceCommand implements fc.AsyncCommand<StoreModel, StoreReal> {
  constructor(readonly ms: number) {}
  check = () => true
  async run(m: StoreModel) {
    m.t += this.ms
  }
  toString = () => `advance(${this.ms}ms)`
}

/** Sets a caller's clock `skewMs` away from the reference: a jump forward or backward. */
class SkewCommand implements fc.AsyncCommand<StoreModel, StoreReal> {
  constructor(
    readonly caller: Caller,
    readonly skewMs: number,
  ) {}
  check = () => true
  async run(m: StoreModel) {
    m.skew[this.caller] = this.skewMs
  }
  toString = () => `skew(caller ${this.caller}, ${this.skewMs}ms)`
}

const permutations = (items: number[]): number[][] =>
  items.length <= 1
    ? [items]
    : items.flatMap((item, i) =>
        permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
      )

const caller = fc.integer({ min: 0, max: CALLERS - 1 })
const key = fc.constantFrom(...KEYS)
const owner = fc.constantFrom(...OWNERS)
// Boundaries matter most: a lease of 0 ends at once, 1000 ms meets the second boundary.
const leaseMs = fc.constantFrom(0, 1, 500, 999, 1_000, 1_001, 3_000)
const ttlSeconds = fc.constantFrom(1, 2, 60)
const result = fc.oneof(fc.constantFrom('"r1"', '{"n":2}', 'null', ''), fc.json({ maxDepth: 1 }))

const opSpec: fc.Arbitrary<OpSpec> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        caller,
        key,
        owner,
        leaseMs,
        ttlSeconds,
        fc.boolean(),
        fc.constantFrom('fa', 'fb', undefined),
        // A durable execution's replay re-enters its own claim.
        fc.boolean(),
      )
      .map((args) => claimSpec(...args)),
  },
  {
    weight: 2,
    arbitrary: fc.tuple(caller, key, owner, ttlSeconds, result).map((args) => completeSpec(...args)),
  },
  { weight: 1, arbitrary: fc.tuple(key, owner).map((args) => releaseSpec(...args)) },
)

const commandsWith = (skew: boolean) =>
  [
    opSpec.map((spec) => new OpCommand(spec)),
    opSpec.map((spec) => new OpCommand(spec)),
    fc.array(opSpec, { minLength: 2, maxLength: 3 }).map((specs) => new ConcurrentCommand(specs)),
    fc
      .oneof(fc.integer({ min: 0, max: 1_500 }), fc.constantFrom(1, 999, 1_000, 2_000, 61_000, 86_400_000))
      .map((ms) => new AdvanceCommand(ms)),
    fc
      .tuple(
        caller,
        fc.oneof(fc.integer({ min: -3_000, max: 3_000 }), fc.constantFrom(-86_400_000, 86_400_000)),
      )
      .map(([c, ms]) => new SkewCommand(c, ms)),
  ].slice(0, skew ? undefined : -1)

/** The whole generated run: a start time (any millisecond within a second) and the steps. */
export const storeSchedules = (maxCommands = 25, skew = true) =>
  fc.record({
    startMs: fc.integer({ min: 0, max: 999 }).map((ms) => Date.UTC(2026, 10, 28, 12) + ms),
    steps: fc.commands(commandsWith(skew), { maxCommands, size: 'max' }),
  })

/** The property: every generated schedule on a fresh set of keys of `store` matches the model. */
export const storeModelProperty = (store: IdempotencyStore, maxCommands?: number, skew = true) =>
  fc.asyncProperty(storeSchedules(maxCommands, skew), async ({ startMs, steps }) => {
    const setup = () => ({
      model: { state: new Map(), t: startMs, t0: startMs, skew: [0, 0, 0], prefix: `${randomUUID()}:` },
      real: { store },
    })
    await fc.asyncModelRun(setup, steps)
  })

/** A test's time limit: generous for the bounded CI run, none to speak of for a long campaign. */
export const modelTimeout = (ciMs: number) =>
  process.env.MODEL_RUNS === undefined && process.env.MODEL_MINUTES === undefined ? ciMs : 86_400_000

/**
 * Runs and settings of a model test. `MODEL_RUNS` sets the number of schedules, `MODEL_MINUTES`
 * a time budget instead (as many schedules as fit), `MODEL_SEED` (printed by every run) and
 * `MODEL_PATH` replay a failure.
 */
export const modelParameters = (defaultRuns: number): fc.Parameters<unknown> => {
  const minutes = process.env.MODEL_MINUTES === undefined ? undefined : Number(process.env.MODEL_MINUTES)
  const numRuns = Number(process.env.MODEL_RUNS ?? (minutes === undefined ? defaultRuns : 100_000_000))
  const seed =
    process.env.MODEL_SEED === undefined
      ? Date.now() ^ (Math.random() * 0x100000000)
      : Number(process.env.MODEL_SEED)
  const path = process.env.MODEL_PATH
  return {
    numRuns,
    seed,
    ...(path === undefined ? {} : { path }),
    ...(minutes === undefined
      ? {}
      : { interruptAfterTimeLimit: minutes * 60_000, markInterruptAsFailure: false }),
  }
}

/**
 * Checks a property with {@link modelParameters}, prints how many schedules passed and the seed,
 * and fails with fast-check's report (the shrunk counterexample, the seed and the path).
 */
export const checkModel = async <Ts>(label: string, property: fc.IRawProperty<Ts>, defaultRuns: number) => {
  const parameters = modelParameters(defaultRuns)
  const started = performance.now()
  const details = await fc.check(property, parameters as fc.Parameters<Ts>)
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  console.info(`${label}: ${details.numRuns} schedules in ${seconds} s, seed ${parameters.seed}`)
  if (details.failed) throw new Error(fc.defaultReportMessage(details))
}
