import type { Context } from 'aws-lambda'
import { IdempotencyConfigError, IdempotencyError, IdempotencyKeyInvalidError } from './errors.js'
import { hashValue, normalizeKey, recordId } from './key.js'
import type { ResolvedOptions, SourceIdentity } from './options.js'

/** The record id and fingerprint of a call, computed once; `undefined` when it runs unprotected. */
export const identify = <TInput>(
  options: ResolvedOptions<TInput>,
  input: TInput,
  context: Context | undefined,
): { id: string; fingerprint: string | undefined } | undefined => {
  // An event source's own id and payload (EventBridge, SQS, SNS, streams, Kafka): the key when no
  // selector is given, and the fingerprint when none is given, so that a redelivery, which changes
  // receipt handles and receive counts, is still the same request.
  const source = options.source?.(input)
  if (source !== undefined && source.key === undefined) checkBatch(options, source)
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
  const namespace = { functionName: context?.functionName ?? '', name: options.name, scope }
  // A store with its own record format (the Powertools one) names its records itself.
  const id = options.store.recordId?.(namespace, normalized) ?? recordId(namespace, normalized)

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

const batchHandlers: Record<string, string> = {
  sqs: 'idempotentSqsHandler',
  kinesis: 'idempotentKinesisHandler',
  'dynamodb-streams': 'idempotentDynamoDBStreamHandler',
  kafka: 'idempotentKafkaHandler',
}

// A batch has no one key: Lambda splits and regroups batches, and each redelivery carries new
// receipt handles, so hashing it would run redelivered records again. Without a key selector
// that is refused; with one, the whole batch is one unit of work, which is rarely what is meant.
const checkBatch = <TInput>(options: ResolvedOptions<TInput>, source: SourceIdentity): void => {
  const handler = batchHandlers[source.source] ?? 'a per-record handler'
  const advice = `use ${handler} to make each record idempotent`
  if (options.key === undefined) {
    throw new IdempotencyConfigError(
      'key',
      `set when a whole batch is made idempotent: the input is a batch of ${source.records} ${source.source} records, which has no one key (${advice})`,
      undefined,
    )
  }
  options.logger?.warn(
    `lambda-idempotency: a batch of ${source.records} ${source.source} records is one unit of work under one key; ${advice}`,
    { outcome: 'batch', source: source.source, records: source.records },
  )
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
