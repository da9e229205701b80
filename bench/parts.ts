import { createHash, randomUUID } from 'node:crypto'
import { readKeyHeader } from '../src/http.js'
import { canonicalJson, hashValue, httpCaller, httpFingerprint, httpRequest, recordId } from '../src/index.js'
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

const time = (iterations: number, repeats: number, operation: () => unknown): number => {
  for (let i = 0; i < Math.min(iterations, 200); i++) _sink = operation() // warm-up
  const samples: number[] = []
  for (let r = 0; r < repeats; r++) {
    const start = process.cpuUsage()
    for (let i = 0; i < iterations; i++) _sink = operation()
    const used = process.cpuUsage(start)
    samples.push((used.user + used.system) / iterations)
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
 * Where lambda-idempotency's CPU goes, step by step, on the events of the CPU benchmark: the same
 * library functions its middleware calls, each timed alone in a tight loop.
 */
export const measureParts = (scale: number): Part[] => {
  const repeats = 11
  const smallIterations = Math.max(2_000, Math.round(20_000 * scale))
  const largeIterations = Math.max(20, Math.round(200 * scale))
  const small = smallEvent()
  const smallHttp = httpRequest(small)
  const large = largeEvent()
  const largeHttp = httpRequest(large)
  if (smallHttp === undefined || largeHttp === undefined)
    throw new Error('the bench events are not HTTP events')
  const body = large.body ?? ''
  const parsed: unknown = JSON.parse(body)
  const canonical = canonicalJson(parsed)
  const namespace = { functionName: 'bench-payments', name: '', scope: 'jwt:issuer:subject' }
  const parts: Part[] = []
  const add = (group: Part['group'], step: string, iterations: number, operation: () => unknown) =>
    parts.push({ group, step, us: time(iterations, repeats, operation) })

  add('small event', 'recognise the API Gateway event (httpRequest)', smallIterations, () =>
    httpRequest(small),
  )
  add('small event', 'read the Idempotency-Key header', smallIterations, () =>
    readKeyHeader(smallHttp, 'Idempotency-Key'),
  )
  add('small event', 'caller scope from the JWT claims (httpCaller)', smallIterations, () =>
    httpCaller(smallHttp),
  )
  add('small event', 'fingerprint: method, path, parsed body, canonical JSON, SHA-256', smallIterations, () =>
    hashValue(httpFingerprint(smallHttp)),
  )
  add('small event', 'record id: SHA-256 of namespace and key', smallIterations, () =>
    recordId(namespace, 'key'),
  )
  add('small event', 'owner token (randomUUID)', smallIterations, () => randomUUID())
  add('small event', 'new Error() with a stack trace, 20 frames deep', smallIterations, () =>
    errorAtDepth(20, true),
  )
  add('small event', 'new Error() without a stack trace', smallIterations, () => errorAtDepth(20, false))

  add('100 KB body', 'JSON.parse of the body', largeIterations, () => JSON.parse(body))
  add('100 KB body', 'canonical JSON of the parsed body (sort keys, stringify)', largeIterations, () =>
    canonicalJson(parsed),
  )
  add('100 KB body', 'JSON.stringify of the parsed body (no sorting), for scale', largeIterations, () =>
    JSON.stringify(parsed),
  )
  add('100 KB body', 'SHA-256 of the canonical JSON', largeIterations, () => sha256(canonical))
  add('100 KB body', 'the whole HTTP fingerprint (httpFingerprint + hashValue)', largeIterations, () =>
    hashValue(httpFingerprint(largeHttp)),
  )
  add(
    '100 KB body',
    'SHA-256 of the raw body bytes (not what ours does: for comparison)',
    largeIterations,
    () => sha256(body),
  )
  return parts
}
