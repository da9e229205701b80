import { createHash, randomUUID } from 'node:crypto'
import { canonicalJsonBytes } from '../src/canonical-json.js'
import { hashedNowFingerprint, readKeyHeader } from '../src/http.js'
import {
  canonicalJson,
  type HttpRequest,
  hashValue,
  httpCaller,
  httpRequest,
  recordId,
} from '../src/index.js'
import { largeEvent, smallEvent } from './events.js'
import { summarize } from './stats.js'

/** One step of lambda-idempotency's work on a call, timed alone. */
export interface Part {
  group: 'small event' | '100 KB body'
  step: string
  /** CPU per operation, microseconds (median of repeats). */
  us: number
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex')

// Keeps results alive so the optimizer cannot drop the work.
let _sink: unknown

// A minor GC before each batch clears the previous batch's garbage. Not the full `gc()`: a forced
// full GC also throws away compiled code, which a warm Lambda never does, and would make every
// batch start with a cold JIT.
const gc = () => (globalThis as { gc?: (options: { type: 'minor' }) => void }).gc?.({ type: 'minor' })

// CPU per operation: `repeats` batches of `iterations` operations, each on an input made before the
// batch starts (a fresh body per call for the large cases, as the middleware gets), median of batches.
const time = <T>(
  iterations: number,
  repeats: number,
  makeInput: () => T,
  operation: (input: T) => unknown,
): number => {
  const samples: number[] = []
  for (let r = -2; r < repeats; r++) {
    const inputs = Array.from({ length: iterations }, makeInput)
    gc()
    const start = process.cpuUsage()
    for (const input of inputs) _sink = operation(input)
    const used = process.cpuUsage(start)
    if (r >= 0) samples.push((used.user + used.system) / iterations) // two warm-up batches
  }
  return summarize(samples).median
}

// Capturing a stack trace at a depth like the middleware's `before` (inside Middy, inside the handler).
const errorAtDepth = (depth: number, withStack: boolean): Error => {
  if (depth > 0) return errorAtDepth(depth - 1, withStack)
  if (withStack) return new Error('answered without running the handler')
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return new Error('answered without running the handler')
  } finally {
    Error.stackTraceLimit = limit
  }
}

/**
 * Waits until the canonical JSON reader has compiled in the background, as it has in a process
 * that has served a request or two: the steps below run without yielding, so a reader still
 * compiling would never become ready and every small body would take the plain path.
 */
export const readerReady = async (): Promise<void> => {
  const text = '{"b":1,"a":2}'
  for (let waited = 0; canonicalJsonBytes(text) === undefined; waited += 10) {
    if (waited > 10_000) throw new Error('the canonical JSON reader did not compile in 10 s')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/**
 * Where lambda-idempotency's CPU goes, step by step, on the events of the CPU benchmark: the same
 * library functions its middleware calls, each timed alone in a loop; the 100 KB steps get a fresh
 * body (or freshly parsed body) on every call, as the middleware does, since re-reading one hot
 * object graph would halve their cost.
 */
export const measureParts = (scale: number): Part[] => {
  const repeats = 11
  const smallIterations = Math.max(2_000, Math.round(20_000 * scale))
  const largeIterations = 10
  const small = smallEvent()
  const smallHttp = httpRequest(small)
  if (smallHttp === undefined) throw new Error('the bench event is not an HTTP event')
  const namespace = { functionName: 'bench-payments', name: '', scope: 'jwt:issuer:subject' }
  const same =
    <T>(value: T) =>
    () =>
      value
  const freshBody = () => largeEvent().body ?? ''
  const freshParsed = (): unknown => JSON.parse(freshBody())
  const parts: Part[] = []
  const add = <T>(
    group: Part['group'],
    step: string,
    iterations: number,
    makeInput: () => T,
    operation: (input: T) => unknown,
  ) => parts.push({ group, step, us: time(iterations, repeats, makeInput, operation) })

  add(
    'small event',
    'recognise the API Gateway event (httpRequest)',
    smallIterations,
    same(small),
    httpRequest,
  )
  add('small event', 'read the Idempotency-Key header', smallIterations, same(smallHttp), (http) =>
    readKeyHeader(http, 'Idempotency-Key'),
  )
  add(
    'small event',
    'caller scope from the JWT claims (httpCaller)',
    smallIterations,
    same(smallHttp),
    httpCaller,
  )
  add(
    'small event',
    "fingerprint as idempotent() makes it: method, path, the body's canonical JSON, SHA-256",
    smallIterations,
    same(smallHttp),
    (http) => hashValue(hashedNowFingerprint(http)),
  )
  add('small event', 'record id: SHA-256 of namespace and key', smallIterations, same('key'), (key) =>
    recordId(namespace, key),
  )
  add('small event', 'owner token (randomUUID)', smallIterations, same(undefined), () => randomUUID())
  add('small event', 'new Error() with a stack trace, 20 frames deep', smallIterations, same(true), (stack) =>
    errorAtDepth(20, stack),
  )
  add('small event', 'new Error() without a stack trace', smallIterations, same(false), (stack) =>
    errorAtDepth(20, stack),
  )

  add(
    '100 KB body',
    'SHA-256 of the raw body bytes (for comparison: not what ours does)',
    largeIterations,
    freshBody,
    sha256,
  )
  add('100 KB body', 'JSON.parse of the body', largeIterations, freshBody, (body) => JSON.parse(body))
  add(
    '100 KB body',
    'JSON.stringify of the parsed body (for scale)',
    largeIterations,
    freshParsed,
    (parsed) => JSON.stringify(parsed),
  )
  add(
    '100 KB body',
    'canonical JSON of the parsed body (sort keys, stringify)',
    largeIterations,
    freshParsed,
    canonicalJson,
  )
  add(
    '100 KB body',
    'parse, stringify, SHA-256, no key sorting (for comparison)',
    largeIterations,
    freshBody,
    (body) => sha256(JSON.stringify(JSON.parse(body))),
  )
  add(
    '100 KB body',
    "parse, canonical JSON, SHA-256 (the fingerprint's core)",
    largeIterations,
    freshBody,
    (body) => sha256(canonicalJson(JSON.parse(body))),
  )
  add(
    '100 KB body',
    'the whole HTTP fingerprint as idempotent() makes it (httpRequest, its fingerprint, hashValue)',
    largeIterations,
    largeEvent,
    (event) => hashValue(hashedNowFingerprint(httpRequest(event) as HttpRequest)),
  )
  return parts
}
