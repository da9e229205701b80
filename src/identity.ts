import type { Context } from 'aws-lambda'
import { IdempotencyError, IdempotencyKeyInvalidError } from './errors.js'
import { hashValue, normalizeKey, recordId } from './key.js'
import type { ResolvedOptions } from './options.js'

/** The record id and fingerprint of a call, computed once; `undefined` when it runs unprotected. */
export const identify = <TInput>(
  options: ResolvedOptions<TInput>,
  input: TInput,
  context: Context | undefined,
): { id: string; fingerprint: string | undefined } | undefined => {
  // Without a key selector: the id an event source carries (EventBridge, SQS, SNS, streams), else
  // the hash of the whole input.
  const source = options.key === undefined ? options.source?.(input) : undefined
  const key =
    options.key !== undefined
      ? read('the key', () => options.key?.(input, context))
      : (source?.key ?? read('the input', () => hashValue(input)))
  const normalized = normalizeKey(key)
  if (normalized === undefined) {
    if (options.required) {
      throw new IdempotencyKeyInvalidError('IDEMPOTENCY_KEY_MISSING', 'the request has no idempotency key')
    }
    return undefined
  }
  const selectScope = options.scope
  const scope =
    typeof selectScope === 'string'
      ? selectScope
      : read('the scope', () => checkScope(selectScope(input, context)))
  const id = recordId({ functionName: context?.functionName ?? '', name: options.name, scope }, normalized)

  let fingerprint: string | undefined
  if (typeof options.fingerprint === 'function') {
    const selector = options.fingerprint
    fingerprint = read('the fingerprint', () => hashValue(selector(input)))
  } else if (options.fingerprint === undefined) {
    if (source !== undefined) fingerprint = read('the fingerprint', () => hashValue(source.fingerprint))
    // With the default key the key already is the hash of the whole input: nothing more to check.
    else if (options.key !== undefined) fingerprint = read('the fingerprint', () => hashValue(input))
  }
  return { id, fingerprint }
}

// A selector that throws on odd input (a string event, a missing header map) is bad input, not a
// bug in this library: answer 400 and keep the selector's error as the cause.
const read = <T>(what: string, select: () => T): T => {
  try {
    return select()
  } catch (error) {
    if (error instanceof IdempotencyError) throw error
    throw new IdempotencyKeyInvalidError(
      'IDEMPOTENCY_INPUT_INVALID',
      `could not read ${what}: ${describeError(error)}`,
      {
        cause: error,
      },
    )
  }
}

const checkScope = (scope: unknown): string => {
  if (scope === undefined || scope === null) return ''
  if (typeof scope !== 'string')
    throw new TypeError(`the scope selector returned a ${typeof scope}, not a string`)
  return scope
}

export const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error)
