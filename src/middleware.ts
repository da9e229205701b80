import type { MiddlewareObj, Request } from '@middy/core'
import type { Context } from 'aws-lambda'
import { type IdempotencyOptions, resolveOptions } from './options.js'
import { type Claim, createProtocol } from './protocol.js'

/**
 * Makes a Middy handler idempotent. `before` claims the key (or replays the stored result without
 * running the handler, even when that result is `undefined`), `after` stores the result, `onError`
 * releases the key so a retry runs. Use it first in the chain so its `after` sees the final response.
 *
 * @example
 * export const handler = middy(charge).use(idempotent({ store, key: (event) => event.orderId }))
 */
export const idempotent = <TEvent = unknown, TResult = unknown>(
  options: IdempotencyOptions<TEvent>,
): MiddlewareObj<TEvent, TResult, Error, Context> => {
  const protocol = createProtocol(resolveOptions(options))
  // One symbol per middleware: two idempotent() in one chain never read each other's claim.
  const claimKey = Symbol('lambda-idempotency claim')
  type Internal = Record<symbol, Claim | undefined>

  const idempotentBefore = async (request: Request<TEvent, TResult, Error, Context>) => {
    const decision = await protocol.begin(request.event, lambdaContext(request.context))
    if (decision.action === 'replay') {
      // earlyResponse (Middy 6+) skips the handler even when the stored result is undefined.
      request.earlyResponse = decision.result as TResult
    } else if (decision.action === 'run') {
      ;(request.internal as Internal)[claimKey] = decision.claim
    }
  }

  const idempotentAfter = async (request: Request<TEvent, TResult, Error, Context>) => {
    const claim = takeClaim(request)
    if (claim !== undefined) await protocol.complete(claim, request.response)
  }

  const idempotentOnError = async (request: Request<TEvent, TResult, Error, Context>) => {
    // Only the invocation that claimed the key releases it: a rejected duplicate has no claim.
    const claim = takeClaim(request)
    if (claim !== undefined) await protocol.release(claim)
  }

  // Taken once: after a completion, an error thrown by a later middleware must not release the key.
  const takeClaim = (request: Request<TEvent, TResult, Error, Context>): Claim | undefined => {
    const internal = request.internal as Internal
    const claim = internal[claimKey]
    internal[claimKey] = undefined
    return claim
  }

  return { before: idempotentBefore, after: idempotentAfter, onError: idempotentOnError }
}

/** The Lambda context, or `undefined` when the caller passed none (tests, local runs). */
export const lambdaContext = (value: unknown): Context | undefined => {
  if (typeof value !== 'object' || value === null) return undefined
  const candidate = value as Partial<Context>
  return typeof candidate.getRemainingTimeInMillis === 'function' ||
    typeof candidate.functionName === 'string'
    ? (value as Context)
    : undefined
}
