import { createHash } from 'node:crypto'
import { canonicalJsonBytes, parseJsonExactly } from './canonical-json.js'
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
export const canonicalJson = (value: unknown): string => {
  try {
    return serialize(sortKeys(value, 0, true)) ?? 'undefined'
  } catch (error) {
    // A value already canonical sits in a container that JSON.stringify would treat specially:
    // take the plain path, which reads that value like any other.
    if (error !== PLAIN_PATH) throw error
    return JSON.stringify(sortKeys(value, 0, false)) ?? 'undefined'
  }
}

// Where a part of the value already is canonical JSON text (a JSON body canonicalized from its
// text): the text, and how deep the objects and arrays it stands for nest below it.
const CANONICAL = Symbol('canonical JSON')
interface Known {
  text: string
  depth: number
}
class Spliced {
  constructor(readonly text: string) {}
}
const PLAIN_PATH = new Error('take the plain path')

/**
 * Marks `value` as the value whose canonical JSON is `text` (nesting `depth` levels below it), so
 * that `canonicalJson` and `hashValue` copy the text instead of walking the value again.
 */
export const withCanonicalJson = <T extends object>(value: T, text: string, depth: number): T =>
  Object.defineProperty(value, CANONICAL, { value: { text, depth } satisfies Known })

// Rebuilds objects with their keys inserted in sorted order and lets the native JSON.stringify do
// the rest: far faster than concatenating strings in JavaScript. Integer-like keys always come
// first in V8's property order whatever the insertion order, which is still one fixed order.
// A part marked by withCanonicalJson comes back as its text, and so does every container above it.
const sortKeys = (value: unknown, depth: number, known: boolean): unknown => {
  if (typeof value !== 'object' || value === null) return value
  if (depth > 1_000) throw new TypeError('value is nested more than 1000 levels deep')
  const mark = known ? (value as { [CANONICAL]?: Known })[CANONICAL] : undefined
  if (mark !== undefined) {
    if (depth + mark.depth > 1_000) throw new TypeError('value is nested more than 1000 levels deep')
    return new Spliced(mark.text)
  }
  const plain = typeof (value as { toJSON?: unknown }).toJSON === 'function' ? toJson(value) : value
  if (typeof plain !== 'object' || plain === null) return plain
  let spliced = false
  if (Array.isArray(plain)) {
    const items = plain.map((item) => {
      const sorted = sortKeys(item, depth + 1, known)
      if (sorted instanceof Spliced) spliced = true
      return sorted
    })
    return spliced ? new Spliced(`[${items.map((item) => serialize(item) ?? 'null').join(',')}]`) : items
  }
  // No prototype: a `__proto__` key is data like any other, not a prototype to set.
  const sorted: Record<string, unknown> = Object.create(null)
  for (const key of Object.keys(plain).sort()) {
    const member = sortKeys((plain as Record<string, unknown>)[key], depth + 1, known)
    if (member instanceof Spliced) spliced = true
    sorted[key] = member
  }
  if (!spliced) return sorted
  if (typeof sorted.toJSON === 'function') throw PLAIN_PATH
  const members: string[] = []
  for (const key of Object.keys(sorted)) {
    const text = serialize(sorted[key])
    if (text !== undefined) members.push(`${JSON.stringify(key)}:${text}`)
  }
  return new Spliced(`{${members.join(',')}}`)
}

const serialize = (sorted: unknown): string | undefined =>
  sorted instanceof Spliced ? sorted.text : JSON.stringify(sorted)

const toJson = (value: object): unknown => (value as { toJSON: () => unknown }).toJSON()

/**
 * SHA-256 of the canonical JSON of a value: what fingerprints are made of.
 *
 * @example
 * hashValue({ amount: 100, currency: 'EUR' }) === hashValue({ currency: 'EUR', amount: 100 }) // true
 */
export const hashValue = (value: unknown): string => sha256(canonicalJson(value))

/**
 * SHA-256 of the canonical JSON of a JSON text: `hashValue(JSON.parse(text))` in a fraction of the
 * time, since the text is canonicalized as it is read, never parsed into objects. One difference:
 * an integer beyond 2^53 counts by its digits (as an HTTP body does), so `9007199254740993` and
 * `9007199254740992` hash differently, while `1.0` and `1` still hash alike.
 *
 * @throws SyntaxError when the text is not JSON.
 * @example
 * idempotent({ store, key: (event) => hashJson(event.body ?? 'null'), fingerprint: false })
 */
export const hashJson = (text: string): string => {
  const canonical = canonicalJsonBytes(text)
  if (canonical === undefined) return hashValue(parseJsonExactly(text))
  if (canonical.depth > 1_000) throw new TypeError('value is nested more than 1000 levels deep')
  return createHash('sha256').update(canonical.bytes).digest('hex')
}

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
