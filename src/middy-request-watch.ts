/*
 * Middy ends a request early when a `before`, `after` or `onError` of a middleware answers with
 * `request.earlyResponse` (or a returned value): the handler and every later hook are skipped,
 * `idempotent()`'s own `after` and `onError` included. A claim taken in `before` would then be
 * neither completed nor released, and the key would stay blocked until its lease ends (for ever
 * with `abandoned: 'block'`). Middy has no hook that always runs, so the request itself is
 * watched: a proxy set as its prototype sees the first assignment of `response` (the handler has
 * finished, or failed) and of `earlyResponse`, which own properties of the request would hide.
 * The early answer becomes a promise that settles the claim first; Middy returns it and Lambda
 * awaits it, so the claim is settled before the invocation ends.
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
 * Watches `request` until `stop()` is called (by `idempotent()`'s own `after` or `onError`) or an
 * early answer arrives, whichever comes first.
 *
 * @returns `stop`, which puts the request back as it was.
 */
export const watchEarlyAnswer = (request: WatchedRequest, handlers: EarlyAnswerHandlers): (() => void) => {
  const prototype = Object.getPrototypeOf(request) as object | null
  // Middy gives every request its `internal`.
  request.internal ??= {}
  const internal = request.internal
  const { proxy, slot } = proxyFor(prototype ?? Object.prototype)
  let handlerSettled = false
  let watching = true
  const stop = (): void => {
    if (!watching) return
    watching = false
    delete internal[slot]
    Object.setPrototypeOf(request, prototype)
  }
  const own = (property: string, value: unknown): void => {
    Object.defineProperty(request, property, { value, writable: true, enumerable: true, configurable: true })
  }

  const watcher: Watcher = (property, value) => {
    if (property === 'response') {
      // Middy assigns `response` when the handler returns or throws; an early answer assigns
      // `earlyResponse` first, so this tells whether the handler has run.
      handlerSettled = true
      own('response', value)
      return true
    }
    if (property !== 'earlyResponse') return false
    stop()
    const settled =
      request.error !== undefined
        ? handlers.afterError(request.error).then(() => value)
        : handlerSettled
          ? handlers.afterHandler(value)
          : handlers.beforeHandler().then(() => value)
    own('earlyResponse', settled)
    return true
  }
  // `response` must not be an own property, or its assignment would not reach the proxy.
  const response = request.response
  delete request.response
  if (response !== undefined) own('response', response)
  internal[slot] = watcher
  Object.setPrototypeOf(request, proxy)
  return stop
}
