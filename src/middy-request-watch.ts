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
}

/**
 * Watches `request` until `stop()` is called (by `idempotent()`'s own `after` or `onError`) or an
 * early answer arrives, whichever comes first.
 *
 * @returns `stop`, which puts the request back as it was.
 */
export const watchEarlyAnswer = (request: WatchedRequest, handlers: EarlyAnswerHandlers): (() => void) => {
  const prototype = Object.getPrototypeOf(request) as object | null
  let handlerSettled = false
  let watching = true
  const stop = (): void => {
    if (!watching) return
    watching = false
    Object.setPrototypeOf(request, prototype)
  }
  const own = (property: string, value: unknown): void => {
    Object.defineProperty(request, property, { value, writable: true, enumerable: true, configurable: true })
  }

  const trap = new Proxy(prototype ?? Object.prototype, {
    set(target, property, value, receiver) {
      if (receiver !== request || !watching) return Reflect.set(target, property, value, receiver)
      if (property === 'response') {
        // Middy assigns `response` when the handler returns or throws; an early answer assigns
        // `earlyResponse` first, so this tells whether the handler has run.
        handlerSettled = true
        own('response', value)
        return true
      }
      if (property !== 'earlyResponse') return Reflect.set(target, property, value, receiver)
      stop()
      const settled =
        request.error !== undefined
          ? handlers.afterError(request.error).then(() => value)
          : handlerSettled
            ? handlers.afterHandler(value)
            : handlers.beforeHandler().then(() => value)
      own('earlyResponse', settled)
      return true
    },
  })
  // `response` must not be an own property, or its assignment would not reach the proxy.
  const response = request.response
  delete request.response
  if (response !== undefined) own('response', response)
  Object.setPrototypeOf(request, trap)
  return stop
}
