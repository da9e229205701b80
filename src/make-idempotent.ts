import { runWithClaim } from './current-claim.js'
import { invocationOf } from './durable.js'
import { IdempotencyConfigError } from './errors.js'
import { sha256 } from './key.js'
import { type IdempotencyOptions, resolveOptions } from './options.js'
import { createProtocol } from './protocol.js'
import { sourceIdentity } from './sources/default-keys.js'

/** Options of {@link makeIdempotent}. */
export interface MakeIdempotentOptions<TInput> extends IdempotencyOptions<TInput> {
  /**
   * A stable name for the wrapped function, part of every record id so two wrapped functions never
   * replay each other's results. An anonymous function is named after a hash of its source, which
   * changes when its code does: name it when retries must survive a deploy, and when a bundler
   * minifies names (a renamed function starts a new set of records).
   * @default fn.name, or `anonymous:<hash of the source>`
   */
  name?: string
}

/**
 * Wraps any async function with the same guarantees as the middleware. The first argument is the
 * input the key and fingerprint come from; a Lambda context as second argument, when present,
 * gives the function name and the lease. Wrapping a durable function handler (its second argument
 * a `DurableContext`), the replays of one durable execution are one call: they re-enter its claim.
 *
 * @example
 * const chargeOnce = makeIdempotent(charge, { store, key: (payment) => payment.paymentId })
 * await chargeOnce({ paymentId: 'p-1', amount: 100 })
 */
export const makeIdempotent = <TArgs extends unknown[], TResult>(
  fn: (...args: TArgs) => Promise<TResult>,
  options: MakeIdempotentOptions<TArgs[0]>,
): ((...args: TArgs) => Promise<TResult>) => {
  if (typeof fn !== 'function') throw new IdempotencyConfigError('fn', 'a function', fn)
  const name = options?.name ?? (fn.name || `anonymous:${sha256(fn.toString()).slice(0, 16)}`)
  if (typeof name !== 'string' || name.length === 0) {
    throw new IdempotencyConfigError('name', 'a non-empty string', options?.name)
  }
  const protocol = createProtocol(resolveOptions(options, name, sourceIdentity))

  const idempotentFunction = async function (this: unknown, ...args: TArgs): Promise<TResult> {
    const [input, contextArgument] = args
    const { context, durableExecutionArn } = invocationOf(input, contextArgument)
    const decision = await protocol.begin(input, context, durableExecutionArn)
    if (decision.action === 'replay') return decision.result as TResult
    if (decision.action === 'bypass') return fn.apply(this, args)
    let result: TResult
    try {
      result = await runWithClaim(decision.claim.handle, () => fn.apply(this, args))
    } catch (error) {
      await protocol.release(decision.claim)
      throw error
    }
    await protocol.complete(decision.claim, result)
    return result
  }
  return idempotentFunction
}
