/*
 * Middy ends a request early when a `before`, `after` or `onError` of a middleware answers with
 * `request.earlyResponse` (or a returned value): the handler and every later hook are skipped,
 * `idempotent()`'s own `after` and `onError` included. A claim taken in `before` would then be
 * neither completed nor released, and the key would stay blocked until its lease ends (for ever
 * with `abandoned: 'block'`). Middy has no hook that always runs, so the request itself is
 * watched: a proxy set as its prototype sees the assignment of `earlyResponse`, which is never an
 * own property before it, and `response` holds a marker until the handler writes its outcome over
 * it, which tells an early answer made before the handler ran from one made after. The early
 * answer becomes a promise that settles the claim first; Middy returns it and Lambda awaits it, so
 * the claim is settled before the invocation ends. Nothing is redefined on the request (that would
 * cost microseconds on every call): its prototype is swapped, and swapped back.
 */

/** What the watcher needs to settle a claim when Middy skips `idempotent()`'s hooks. */
export interface EarlyAnswerHandlers {
  /** A middleware answered before the handler ran: the work never ran. */
  beforeHandler: () => Promise<void>
  /** A later `after` answered with `response` once the handler had returned: the final result. */
  afterHandler: (response: unknown) => Promise<unknown>
  /** A later `onError` answered after the handler (or a middleware) failed. */
  afterError: (error: unknown) => Promise<void>
}

interface WatchedRequest {
  response?: unknown
  error?: unknown
  earlyResponse?: unknown
  internal?: Record<PropertyKey, unknown>
}

// What a watch does with an assignment it sees: true when it took it.
type Watcher = (property: PropertyKey, value: unknown) => boolean

// One proxy per prototype it stands in for, shared by every request: a request watched again and
// again gets the same prototype each time, so the engine reuses the request's shape instead of
// making a new one per request (and Middy's property reads stay fast). Each request's watcher
// lives in its `internal` (a fresh object per request in Middy) under the proxy's own symbol, so a
// second idempotent() in the chain, which puts its proxy in front of the first, has its own.
const proxies = new WeakMap<object, { proxy: object; slot: symbol }>()
const proxyFor = (prototype: object): { proxy: object; slot: symbol } => {
  let entry = proxies.get(prototype)
  if (entry === undefined) {
    const slot = Symbol('lambda-idempotency watch')
    const proxy = new Proxy(prototype, {
      set(target, property, value, receiver) {
        const watcher = (receiver as WatchedRequest).internal?.[slot] as Watcher | undefined
        return watcher?.(property, value) || Reflect.set(target, property, value, receiver)
      },
    })
    entry = { proxy, slot }
    proxies.set(prototype, entry)
  }
  return entry
}

/**
 * What `request.response` holds from the claim until the handler returns or fails (Middy writes
 * `undefined` or the handler's result over it), for a middleware registered after `idempotent()`
 * that reads it in its `before`.
 */
export const HANDLER_NOT_RUN: unique symbol = Symbol('lambda-idempotency: the handler has not run yet')

/**
 * Watches `request` until `stop()` is called (by `idempotent()`'s own `after` or `onError`) or an
 * early answer arrives, whichever comes first. A request watched twice (two `idempotent()` in one
 * chain) hands the early answer on to the earlier watch, so both settle their claims.
 *
 * @returns `stop`, which puts the request back as it was.
 */
export const watchEarlyAnswer = (request: WatchedRequest, handlers: EarlyAnswerHandlers): (() => void) => {
  const prototype = Object.getPrototypeOf(request) as object | null
  // Middy gives every request its `internal`.
  request.internal ??= {}
  const internal = request.internal
  const { proxy, slot } = proxyFor(prototype ?? Object.prototype)
  const initial = request.response
  let watching = true
  const stop = (): void => {
    if (!watching) return
    watching = false
    internal[slot] = undefined
    if (request.response === HANDLER_NOT_RUN) request.response = initial
    Object.setPrototypeOf(request, prototype)
  }

  const watcher: Watcher = (property, value) => {
    if (property !== 'earlyResponse') return false
    // Read now, as Middy has them when the answer is given.
    const handlerSettled = request.response !== HANDLER_NOT_RUN
    const { error } = request
    stop()
    // A promise from a later watch: this one settles after it, with the same answer.
    const settled = Promise.resolve(value).then((answer) =>
      error !== undefined
        ? handlers.afterError(error).then(() => answer)
        : handlerSettled
          ? handlers.afterHandler(answer)
          : handlers.beforeHandler().then(() => answer),
    )
    // Assigned again, so that an earlier watch (now the prototype) sees it too.
    ;(request as { earlyResponse?: unknown }).earlyResponse = settled
    return true
  }
  internal[slot] = watcher
  request.response = HANDLER_NOT_RUN
  Object.setPrototypeOf(request, proxy)
  return stop
}
