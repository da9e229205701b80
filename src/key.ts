import { createHash, hash } from 'node:crypto'
import { canonicalJsonBytes, parseJsonExactly } from './canonical-json.js'
import { IdempotencyKeyInvalidError } from './errors.js'

/** The longest key accepted, in characters (the IETF draft and Stripe use 255). */
export const MAX_KEY_LENGTH = 255

// C0 controls, DEL and C1 controls: they break logs and headers and are never part of a real key.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/

/**
 * SHA-256 of a string (as UTF-8) or of bytes, hex-encoded (64 characters). The one-shot `hash`
 * takes a third of the time of `createHash().update().digest()` on a short input, and every call
 * hashes at least one (the record id).
 */
export const sha256 = (data: string | Uint8Array): string => hash('sha256', data, 'hex')

/**
 * Canonical JSON of a value: object keys in a fixed order, no whitespace, so two inputs that differ
 * only in key order or formatting give the same text. Follows `JSON.stringify` for everything else
 * (`toJSON`, dropped `undefined` properties). Throws a `TypeError` on cycles and `bigint`.
 *
 * @example
 * canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }] }) // '{"a":[2,{"c":4,"d":3}],"b":1}'
 */
export const canonicalJson = (value: unknown): string => {
  const canonical = canonicalParts(value)
  return typeof canonical === 'string' ? canonical : canonical.map(partText).join('')
}

/**
 * Canonical JSON as one string, or as the parts of a text spliced around a value already known as
 * canonical JSON (a JSON body canonicalized from its text, whose part may be its UTF-8 bytes), for
 * a value `depth` levels down in the value being canonicalized.
 * @internal
 */
export const canonicalParts = (value: unknown, depth = 0): string | Part[] => {
  try {
    const sorted = sortKeys(value, depth, true)
    return sorted instanceof Spliced ? sorted.parts : (JSON.stringify(sorted) ?? 'undefined')
  } catch (error) {
    // A value already canonical sits in a container that JSON.stringify would treat specially:
    // take the plain path, which reads that value like any other.
    if (error !== PLAIN_PATH) throw error
    return JSON.stringify(sortKeys(value, depth, false)) ?? 'undefined'
  }
}

/** A piece of canonical JSON: text, or UTF-8 bytes. @internal */
export type Part = string | Uint8Array
const partText = (part: Part): string =>
  typeof part === 'string' ? part : Buffer.from(part.buffer, part.byteOffset, part.length).toString('utf8')

// Where a part of the value already is canonical JSON (a JSON body canonicalized from its text):
// its text in parts, and how deep the objects and arrays it stands for nest below it.
const CANONICAL = Symbol('canonical JSON')
interface Known {
  parts: Part[]
  depth: number
}
class Spliced {
  constructor(readonly parts: Part[]) {}
}
const PLAIN_PATH = new Error('take the plain path')

/**
 * Marks `value` as the value whose canonical JSON is the concatenation of `parts` (strings, or
 * UTF-8 bytes the caller owns), nesting `depth` levels below it, so that `canonicalJson` and
 * `hashValue` copy the text instead of walking the value again; `hashValue` hashes the bytes as
 * they are, without turning them into a string.
 */
export const withCanonicalJson = <T extends object>(value: T, parts: Part[], depth: number): T =>
  Object.defineProperty(value, CANONICAL, { value: { parts, depth } satisfies Known })

/**
 * A value known only by its canonical JSON, `parts`, nesting `depth` levels below it: what
 * `withCanonicalJson` marks, for a caller that writes the canonical JSON itself and reads no value
 * back (the default HTTP fingerprint).
 * @internal
 */
export class CanonicalValue {
  readonly [CANONICAL]: Known
  constructor(parts: Part[], depth: number) {
    this[CANONICAL] = { parts, depth }
  }
}

// Rebuilds objects with their keys inserted in sorted order and lets the native JSON.stringify do
// the rest: far faster than concatenating strings in JavaScript. Integer-like keys always come
// first in V8's property order whatever the insertion order, which is still one fixed order.
// A part marked by withCanonicalJson comes back as its parts, and so does every container above it.
const sortKeys = (value: unknown, depth: number, known: boolean): unknown => {
  if (typeof value !== 'object' || value === null) return value
  if (depth > 1_000) throw new TypeError('value is nested more than 1000 levels deep')
  const mark = known ? (value as { [CANONICAL]?: Known })[CANONICAL] : undefined
  if (mark !== undefined) {
    if (depth + mark.depth > 1_000) throw new TypeError('value is nested more than 1000 levels deep')
    return new Spliced(mark.parts)
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
    if (!spliced) return items
    const parts: Part[] = ['[']
    items.forEach((item, i) => {
      if (i > 0) parts.push(',')
      serialize(parts, item, 'null')
    })
    parts.push(']')
    return new Spliced(parts)
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
  const parts: Part[] = ['{']
  for (const key of Object.keys(sorted)) {
    const member = sorted[key]
    const text = member instanceof Spliced ? undefined : JSON.stringify(member)
    if (text === undefined && !(member instanceof Spliced)) continue // JSON.stringify drops it
    parts.push(`${parts.length > 1 ? ',' : ''}${JSON.stringify(key)}:`)
    if (text === undefined) parts.push(...(member as Spliced).parts)
    else parts.push(text)
  }
  parts.push('}')
  return new Spliced(parts)
}

// Appends the canonical JSON of a sorted value to `parts` (`missing` when JSON has none for it).
const serialize = (parts: Part[], sorted: unknown, missing: string): void => {
  if (sorted instanceof Spliced) parts.push(...sorted.parts)
  else parts.push(JSON.stringify(sorted) ?? missing)
}

const JOIN_LIMIT = 4096

const toJson = (value: object): unknown => (value as { toJSON: () => unknown }).toJSON()

/**
 * SHA-256 of the canonical JSON of a value: what fingerprints are made of.
 *
 * @example
 * hashValue({ amount: 100, currency: 'EUR' }) === hashValue({ currency: 'EUR', amount: 100 }) // true
 */
export const hashValue = (value: unknown): string => {
  const canonical = canonicalParts(value)
  if (typeof canonical === 'string') return sha256(canonical)
  // Short parts are joined and hashed at once; long ones are hashed as they are, never copied.
  let length = 0
  for (const part of canonical) length += part.length
  if (length <= JOIN_LIMIT) return sha256(canonical.map(partText).join(''))
  const hasher = createHash('sha256')
  for (const part of canonical) hasher.update(part)
  return hasher.digest('hex')
}

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
  return sha256(canonical.bytes)
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
