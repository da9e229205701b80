import { IdempotencyConfigError } from './errors.js'
import { type MakeIdempotentOptions, makeIdempotent } from './make-idempotent.js'

/** Options of {@link idempotentMethod}: those of `makeIdempotent`. */
export type IdempotentMethodOptions<TInput> = MakeIdempotentOptions<TInput>

type Method<This, TArgs extends unknown[], TResult> = (this: This, ...args: TArgs) => Promise<TResult>

/**
 * A standard (TC39) method decorator with the guarantees of `makeIdempotent`: the method's first
 * argument is the input the key and fingerprint come from, a Lambda context as second argument
 * gives the function name and the lease, and `this` is the instance it is called on. Each class
 * and method has its own records: the default `name` is `Class#method` for an instance method and
 * `Class.method` for a static one, taken from the class that declares the method (a subclass that
 * inherits it shares its records). Needs TypeScript 5 without `experimentalDecorators`.
 *
 * @default name: `Class#method` (instance) or `Class.method` (static); set it when a bundler
 *   minifies class names, for private methods and for anonymous classes
 * @example
 * class Payments {
 *   @idempotentMethod({ store, key: (payment: Payment) => payment.paymentId })
 *   async charge(payment: Payment) {
 *     return this.gateway.charge(payment)
 *   }
 * }
 */
export const idempotentMethod =
  <TInput>(options: IdempotentMethodOptions<TInput>) =>
  <This, TArgs extends [TInput, ...unknown[]], TResult>(
    method: Method<This, TArgs, TResult>,
    context: ClassMethodDecoratorContext<This, Method<This, TArgs, TResult>>,
  ): Method<This, TArgs, TResult> => {
    if (context?.kind !== 'method') {
      throw new IdempotencyConfigError('idempotentMethod', 'used on a class method', context?.kind)
    }
    const methodName = typeof context.name === 'symbol' ? context.name.description : context.name
    const given = options?.name
    // Checks every option now, when the class is defined, not at the first call.
    makeIdempotent(method, { ...options, name: given ?? 'idempotentMethod' })
    if (given === undefined && (context.private || typeof context.name === 'symbol')) {
      throw new IdempotencyConfigError(
        'name',
        `set for the private or symbol-named method ${String(methodName)}`,
        undefined,
      )
    }

    let wrapped: Method<This, TArgs, TResult> | undefined =
      given === undefined ? undefined : makeIdempotent(method, options)
    const replacement = async function (this: This, ...args: TArgs): Promise<TResult> {
      wrapped ??= makeIdempotent(method, {
        ...options,
        name: declaredName(this, replacement, String(methodName), context.static),
      })
      return wrapped.apply(this, args)
    }
    return replacement
  }

// The class that declares the method: the object on the receiver's prototype chain whose own
// property is this replacement (the class itself for a static method, its prototype otherwise).
const declaredName = (receiver: unknown, replacement: unknown, method: string, isStatic: boolean): string => {
  let owner: object | null =
    (typeof receiver === 'object' && receiver !== null) || typeof receiver === 'function' ? receiver : null
  while (owner !== null && Object.getOwnPropertyDescriptor(owner, method)?.value !== replacement) {
    owner = Object.getPrototypeOf(owner) as object | null
  }
  const declaring = isStatic ? owner : (owner as { constructor?: unknown } | null)?.constructor
  const className = typeof declaring === 'function' ? declaring.name : ''
  if (owner === null || className === '') {
    throw new IdempotencyConfigError(
      'name',
      `set for ${method}: its class has no name (an anonymous class), or the method was called detached from it`,
      undefined,
    )
  }
  return isStatic ? `${className}.${method}` : `${className}#${method}`
}
