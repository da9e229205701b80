import { attachClaim } from './current-claim.js'
import { invocationOf } from './durable.js'
import { IdempotencyConfigError, IdempotencyError } from './errors.js'
import {
  type HttpIdempotencyOptions,
  type HttpRequest,
  type HttpResponse,
  hashedNowFingerprint,
  httpCaller,
  httpRequest,
  problemResponse,
  readKeyHeader,
  replayResponse,
} from './http.js'
import { describeError } from './identity.js'
import { watchEarlyAnswer } from './middy-request-watch.js'
import { type IdempotencyOptions, resolveOptions, stripUndefined } from './options.js'
import type { MiddyMiddleware, MiddyRequest as Request } from './peer-types.js'
import { type Claim, createProtocol } from './protocol.js'
import { sourceIdentity } from './sources/default-keys.js'

/** Options of {@link idempotent}: the shared options plus how HTTP events are treated. */
export interface IdempotentMiddlewareOptions<TEvent> extends IdempotencyOptions<TEvent> {
  /** HTTP semantics for API Gateway and function URL events. @default see {@link HttpIdempotencyOptions} */
  http?: HttpIdempotencyOptions
}

const httpDefaults = {
  header: 'Idempotency-Key',
  methods: ['POST', 'PATCH'],
  storeResponse: (response: HttpResponse) => (response?.statusCode ?? 200) < 500,
  documentation: 'https://datatracker.ietf.org/doc/draft-ietf-httpapi-idempotency-key-header/',
}

// Thrown from `before` to reach `onError`, where the ready answer (a replay or a problem response,
// kept in request.internal) becomes the response: on that path http-cors and http-error-handler
// still decorate it, which an early response from `before` would skip. The answer is not carried
// by the error because http-error-handler replaces request.error on its way.
class HttpAnswer extends Error {
  override name = 'HttpAnswer'

  constructor() {
    super('lambda-idempotency answered the request without running the handler')
  }
}

// An answer is control flow, not a failure: skip capturing a stack trace on every replay.
const controlFlow = (): HttpAnswer => {
  const { stackTraceLimit } = Error
  Error.stackTraceLimit = 0
  try {
    return new HttpAnswer()
  } finally {
    Error.stackTraceLimit = stackTraceLimit
  }
}

/**
 * Makes a Middy handler idempotent. `before` claims the key (or replays the stored result without
 * running the handler, even when that result is `undefined`), `after` stores the result, `onError`
 * releases the key so a retry runs.
 *
 * API Gateway (REST and HTTP APIs) and function URL events get HTTP semantics with no extra code:
 * the key comes from the `Idempotency-Key` header, `POST` and `PATCH` require it, 400 / 409 / 422
 * are answered as `application/problem+json`, replays carry `Idempotent-Replayed: true`, and the
 * authenticated caller scopes the key.
 *
 * Order: for other events use it first, so its `after` sees the final result. For HTTP, `.use()` it
 * after `@middy/http-cors`, `@middy/http-error-handler` and `@middy/http-json-body-parser`.
 *
 * @example
 * export const handler = middy(charge).use(idempotent({ store, key: (event) => event.orderId }))
 */
export const idempotent = <TEvent = unknown, TResult = unknown>(
  options: IdempotentMiddlewareOptions<TEvent>,
): MiddyMiddleware<TEvent, TResult> => {
  const resolved = resolveOptions(options, '', sourceIdentity)
  const http = resolveHttpOptions(options.http)
  const methods = new Set(http.methods.map((method) => method.toUpperCase()))
  const protocol = createProtocol(resolved)
  // HTTP calls see the event together with its parsed view, read once per request. The user's
  // selectors win; HTTP defaults fill in what they leave out.
  const { key, fingerprint, scope } = resolved
  const httpProtocol = createProtocol<HttpInput<TEvent>>({
    ...resolved,
    source: undefined,
    key: key
      ? (input, context) => key(input.event, context)
      : (input) => readKeyHeader(input.http, http.header),
    fingerprint:
      fingerprint === undefined
        ? (input) => hashedNowFingerprint(input.http)
        : fingerprint && ((input) => fingerprint(input.event)),
    scope:
      options.scope === undefined
        ? (input) => httpCaller(input.http)
        : typeof scope === 'string'
          ? scope
          : (input, context) => scope(input.event, context),
  })
  // One symbol per middleware: two idempotent() in one chain never read each other's state.
  const stateKey = Symbol('lambda-idempotency')
  type Claimed = { claim: Claim; http: boolean; stopWatching: () => void }
  type State = Claimed | { answer: unknown }
  type Internal = Record<symbol, State | undefined>
  type MiddyRequest = Request<TEvent, TResult>

  const idempotentBefore = async (request: MiddyRequest) => {
    const { context, durableExecutionArn } = invocationOf(request.event, request.context)
    const httpEvent = httpRequest(request.event)
    const internal = request.internal as Internal
    if (httpEvent === undefined) {
      const decision = await protocol.begin(request.event, context, durableExecutionArn)
      if (decision.action === 'replay') {
        // earlyResponse (Middy 6+) skips the handler even when the stored result is undefined.
        request.earlyResponse = decision.result as TResult
      } else if (decision.action === 'run') {
        internal[stateKey] = claimed(request, decision.claim, false)
      }
      return
    }
    if (!methods.has(httpEvent.method)) return
    let decision: Awaited<ReturnType<typeof httpProtocol.begin>>
    try {
      decision = await httpProtocol.begin(
        { event: request.event, http: httpEvent },
        context,
        durableExecutionArn,
      )
    } catch (error) {
      if (!(error instanceof IdempotencyError)) throw error
      internal[stateKey] = { answer: problemResponse(error, http.documentation) }
      throw controlFlow()
    }
    if (decision.action === 'replay') {
      internal[stateKey] = { answer: replayResponse(decision.result, httpEvent) }
      throw controlFlow()
    }
    if (decision.action === 'run') internal[stateKey] = claimed(request, decision.claim, true)
  }

  // A middleware registered after this one may answer early, and Middy then skips this one's
  // after / onError: the watch settles the claim in their place (see middy-request-watch.ts).
  const claimed = (request: MiddyRequest, claim: Claim, isHttp: boolean): Claimed => {
    const state: Claimed = { claim, http: isHttp, stopWatching: () => {} }
    attachClaim(request.context, claim.handle)
    state.stopWatching = watchEarlyAnswer(request as never, {
      beforeHandler: () =>
        takeState(request) === state ? protocolOf(state).release(claim) : Promise.resolve(),
      afterHandler: (response) =>
        takeState(request) === state ? finish(state, response) : Promise.resolve(response),
      afterError: (error) => (takeState(request) === state ? fail(state, error) : Promise.resolve()),
    })
    return state
  }

  const protocolOf = (state: Claimed) => (state.http ? httpProtocol : protocol)

  /** Stores the final response; returns it, or the problem response that replaces it. */
  const finish = async (state: Claimed, response: unknown): Promise<unknown> => {
    // A response the handler committed in its own transaction is stored whatever its status.
    const committed = state.claim.transaction.state !== undefined
    if (state.http && !committed && !http.storeResponse(response as HttpResponse)) {
      await httpProtocol.release(state.claim)
      return response
    }
    try {
      await protocolOf(state).complete(state.claim, response)
    } catch (error) {
      if (state.http && error instanceof IdempotencyError) return problemResponse(error, http.documentation)
      throw error
    }
    return response
  }

  const fail = async (state: Claimed, error: unknown): Promise<void> => {
    // Middy's timeout answers while the handler still runs: its work may yet take effect, so the
    // key must not be released (with abandoned: 'block' it stays blocked for review).
    if (isMiddyTimeout(error)) {
      protocolOf(state).keep(state.claim, describeError(error))
      return
    }
    // Only the invocation that claimed the key releases it: a rejected duplicate has no claim.
    await protocolOf(state).release(state.claim)
  }

  const idempotentAfter = async (request: MiddyRequest) => {
    const state = takeState(request)
    if (state === undefined || 'answer' in state) return
    request.response = (await finish(state, request.response)) as TResult
  }

  const idempotentOnError = async (request: MiddyRequest) => {
    const state = takeState(request)
    if (state === undefined) return
    if ('answer' in state) {
      request.response = withEarlierHeaders(state.answer, request.response) as TResult
      return
    }
    await fail(state, request.error)
  }

  // Taken once: after a completion, an error thrown by a later middleware must not release the key.
  const takeState = (request: MiddyRequest): State | undefined => {
    const internal = request.internal as Internal
    const state = internal[stateKey]
    internal[stateKey] = undefined
    if (state !== undefined && 'claim' in state) {
      state.stopWatching()
      attachClaim(request.context, undefined)
    }
    return state
  }

  return { before: idempotentBefore, after: idempotentAfter, onError: idempotentOnError }
}

type HttpInput<TEvent> = { event: TEvent; http: HttpRequest }

// @middy/core 5 and later end a handler that runs into `timeoutEarlyInMillis` with this error.
const isMiddyTimeout = (error: unknown): boolean =>
  error instanceof Error &&
  error.name === 'TimeoutError' &&
  (error.cause as { package?: unknown } | undefined)?.package === '@middy/core'

// When middlewares registered after idempotent() already rendered the error (http-error-handler,
// then http-cors), the answer replaces their status and body but keeps the headers they added
// that it does not set itself (CORS, security headers), whatever the order of the chain.
const withEarlierHeaders = (answer: unknown, earlier: unknown): unknown => {
  const headers = (earlier as HttpResponse | undefined)?.headers
  if (headers === undefined || typeof answer !== 'object' || answer === null) return answer
  const response = answer as HttpResponse
  const own = new Set(Object.keys(response.headers ?? {}).map((name) => name.toLowerCase()))
  const kept = Object.fromEntries(Object.entries(headers).filter(([name]) => !own.has(name.toLowerCase())))
  return { ...response, headers: { ...kept, ...response.headers } }
}

const resolveHttpOptions = (options: HttpIdempotencyOptions | undefined) => {
  if (options !== undefined && (typeof options !== 'object' || options === null)) {
    throw new IdempotencyConfigError('http', 'an object', options)
  }
  const http = { ...httpDefaults, ...stripUndefined(options ?? {}) }
  if (typeof http.header !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(http.header)) {
    throw new IdempotencyConfigError('http.header', 'an HTTP header name', http.header)
  }
  if (
    !Array.isArray(http.methods) ||
    !http.methods.every((method) => typeof method === 'string' && method !== '')
  ) {
    throw new IdempotencyConfigError('http.methods', 'an array of HTTP method names', http.methods)
  }
  if (typeof http.storeResponse !== 'function') {
    throw new IdempotencyConfigError('http.storeResponse', 'a function', http.storeResponse)
  }
  if (typeof http.documentation !== 'string') {
    throw new IdempotencyConfigError('http.documentation', 'a URL string', http.documentation)
  }
  return http
}
