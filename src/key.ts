import { createHash } from 'node:crypto'
import { IdempotencyKeyInvalidError } from './errors.js'

/** The longest key accepted, in characters (the IETF draft and Stripe use 255). */
export const MAX_KEY_LENGTH = 255

// C0 controls, DEL and C1 controls: they break logs and headers and are never part of a real key.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/

/** SHA-256 of a string, hex-encoded (64 characters). */
export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex')

/**
 * Canonical JSON of a value: object keys in a fixed order, no whitespace, so two inputs that differ
 * only in key order or formatting give the same text. Follows `JSON.stringify` for everything else
 * (`toJSON`, dropped `undefined` properties). Throws a `TypeError` on cycles and `bigint`.
 *
 * @example
 * canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] }) // '{"a":[2,{"c":4,"d":3}],"b":1}'
 */
export const canonicalJson = (value: unknown): string => JSON.stringify(sortKeys(value)) ?? 'undefined'

// Rebuilds objects with their keys inserted in sorted order and lets the native JSON.stringify do
// the rest: far faster than concatenating strings in JavaScript. Integer-like keys always come
// first in V8's property order whatever the insertion order, which is still one fixed order.
const sortKeys = (value: unknown, depth = 0): unknown => {
  if (typeof value !== 'object' || value === null) return value
  if (depth > 1_000) throw new TypeError('value is nested more than 1000 levels deep')
  const plain = typeof (value as { toJSON?: unknown }).toJSON === 'function' ? toJson(value) : value
  if (typeof plain !== 'object' || plain === null) return plain
  if (Array.isArray(plain)) return plain.map((item) => sortKeys(item, depth + 1))
  // No prototype: a `__proto__` key is data like any other, not a prototype to set.
  const sorted: Record<string, unknown> = Object.create(null)
  for (const key of Object.keys(plain).sort()) {
    sorted[key] = sortKeys((plain as Record<string, unknown>)[key], depth + 1)
  }
  return sorted
}

const toJson = (value: object): unknown => (value as { toJSON: () => unknown }).toJSON()

/**
 * SHA-256 of the canonical JSON of a value: what fingerprints are made of.
 *
 * @example
 * hashValue({ amount: 100, currency: 'EUR' }) === hashValue({ currency: 'EUR', amount: 100 }) // true
 */
export const hashValue = (value: unknown): string => sha256(canonicalJson(value))

/**
 * Checks a key returned by a key selector and returns it as a string. Numbers are accepted and
 * converted; `undefined`, `null` and `''` mean "no key" and return `undefined`.
 *
 * @throws IdempotencyKeyInvalidError when the key is not a string or number, longer than 255
 *   characters, or contains a control character.
 */
export const normalizeKey = (key: unknown): string | undefined => {
  if (key === undefined || key === null || key === '') return undefined
  if (typeof key === 'number' && Number.isFinite(key)) return String(key)
  if (typeof key !== 'string') {
    throw new IdempotencyKeyInvalidError(
      'IDEMPOTENCY_KEY_INVALID',
      `idempotency key must be a string, got ${typeof key === 'number' ? String(key) : typeof key}`,
    )
  }
  if (key.length > MAX_KEY_LENGTH) {
    throw new IdempotencyKeyInvalidError(
      'IDEMPOTENCY_KEY_INVALID',
      `idempotency key is ${key.length} characters long; the limit is ${MAX_KEY_LENGTH}`,
    )
  }
  if (CONTROL_CHARACTER.test(key)) {
    throw new IdempotencyKeyInvalidError(
      'IDEMPOTENCY_KEY_INVALID',
      `idempotency key ${JSON.stringify(key)} contains a control character`,
    )
  }
  return key
}

/** What separates one function's or one tenant's keys from another's. */
export interface KeyNamespace {
  /** The Lambda function's name (`context.functionName`), or `''` outside Lambda. */
  functionName: string
  /** The wrapped function's stable name (`makeIdempotent`), or `''` for the Middy middleware. */
  name: string
  /** The caller-chosen scope (a tenant, a caller), or `''`. */
  scope: string
}

/**
 * The id stored in the table: SHA-256 over the namespace and the key. Raw keys never reach the
 * table, and two namespaces can never produce the same id (the parts are JSON-encoded, so no
 * separator inside a part can fake a boundary).
 *
 * @example
 * await inspectKey(store, { id: recordId({ functionName: 'payments-charge', name: '', scope: '' }, 'pay_1') })
 */
export const recordId = (namespace: KeyNamespace, key: string): string =>
  sha256(JSON.stringify([namespace.functionName, namespace.name, namespace.scope, key]))
