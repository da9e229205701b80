import { brotliCompressSync, brotliDecompressSync, constants } from 'node:zlib'
import { IdempotencyResultError } from './errors.js'

/*
 * How results are stored, so that a replay returns what the first call returned.
 *
 * The text is JSON. Values that JSON cannot carry become one-key "tag" objects whose key starts
 * with a NUL character, which real data practically never uses:
 *
 *   undefined (anywhere)        {"\u0000u":1}
 *   Date                        {"\u0000d":"2026-11-28T14:00:00.000Z"}   (null for an invalid date)
 *   NaN, Infinity, -Infinity    {"\u0000n":"NaN"}
 *   an object with a NUL key    {"\u0000o":[["key",value],...]}          (escaped, so no data is misread as a tag)
 *   "not stored" marker         {"\u0000x":"reason"}                     (top level only, see IdempotencyResultError)
 *
 * Everything else follows JSON.stringify: `toJSON` is honoured, class instances become plain
 * objects. Functions, symbols, bigints, Maps, Sets and cycles cannot be replayed faithfully and
 * are refused with an IdempotencyResultError instead of being silently dropped.
 */

const TAG = '\u0000'
const UNDEFINED = `${TAG}u`
const DATE = `${TAG}d`
const NUMBER = `${TAG}n`
const ESCAPED = `${TAG}o`
const NOT_STORED = `${TAG}x`
// JSON.stringify writes a NUL character as these six characters: a cheap test for "has tags".
const ESCAPED_TAG = '\\u0000'

function replacer(this: unknown, key: string, value: unknown): unknown {
  const original = (this as Record<string, unknown>)[key]
  if (original instanceof Date) return { [DATE]: Number.isNaN(original.getTime()) ? null : value }
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      return Number.isFinite(value) ? value : { [NUMBER]: String(value) }
    case 'undefined':
      return { [UNDEFINED]: 1 }
    case 'object':
      return value === null || Array.isArray(value) ? value : objectValue(value)
    default:
      throw new TypeError(`a ${typeof value} cannot be stored as JSON`)
  }
}

const objectValue = (value: object): unknown => {
  if (value instanceof Map || value instanceof Set) {
    throw new TypeError(
      `a ${value.constructor.name} cannot be stored as JSON; convert it to an object or array`,
    )
  }
  for (const key in value) {
    if (key.charCodeAt(0) === 0) return { [ESCAPED]: Object.entries(value) }
  }
  return value
}

/**
 * Encodes a result for storage.
 *
 * @throws IdempotencyResultError when the value cannot be replayed faithfully.
 */
export const encodeResult = (value: unknown): string => {
  try {
    return JSON.stringify(value, replacer)
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    throw new IdempotencyResultError(`the result is not JSON-compatible (${reason})`, { cause: error })
  }
}

/** The stored text of a result that could not be stored: every replay throws `reason` again. */
export const encodeNotStored = (reason: string): string => JSON.stringify({ [NOT_STORED]: reason })

/**
 * Decodes a stored result.
 *
 * @throws IdempotencyResultError when the record says the original result could not be stored.
 */
export const decodeResult = (text: string): unknown => {
  const parsed: unknown = JSON.parse(text)
  if (!text.includes(ESCAPED_TAG)) return parsed
  const tagged = tagOf(parsed)
  if (tagged?.tag === NOT_STORED) {
    throw new IdempotencyResultError(
      `${String(tagged.payload)} (on the first call; the work was not run again)`,
    )
  }
  return revive(parsed)
}

const tagOf = (value: unknown): { tag: string; payload: unknown } | undefined => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  let tag: string | undefined
  for (const key in value) {
    if (tag !== undefined || key.charCodeAt(0) !== 0) return undefined
    tag = key
  }
  return tag === undefined ? undefined : { tag, payload: (value as Record<string, unknown>)[tag] }
}

const revive = (value: unknown): unknown => {
  if (typeof value !== 'object' || value === null) return value
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = revive(value[i])
    return value
  }
  const tagged = tagOf(value)
  if (tagged !== undefined) {
    switch (tagged.tag) {
      case UNDEFINED:
        return undefined
      case DATE:
        return new Date(tagged.payload === null ? Number.NaN : (tagged.payload as string))
      case NUMBER:
        return Number(tagged.payload)
      case ESCAPED:
        return Object.fromEntries((tagged.payload as [string, unknown][]).map(([k, v]) => [k, revive(v)]))
    }
  }
  const record = value as Record<string, unknown>
  for (const key in record) record[key] = revive(record[key])
  return value
}

// Compressed results start with a control character, which JSON text never does.
const COMPRESSED = '\u0001br:'

/**
 * Compresses an encoded result longer than `thresholdBytes` (Brotli, then base64 so every store
 * can hold it as a string), when that makes it smaller.
 */
export const packResult = (text: string, thresholdBytes: number): string => {
  if (text.length <= thresholdBytes) return text
  const compressed = brotliCompressSync(text, {
    // Quality 5 compresses JSON about as well as the maximum (11) at a small fraction of the CPU.
    params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_SIZE_HINT]: text.length },
  })
  const packed = COMPRESSED + compressed.toString('base64')
  return packed.length < text.length ? packed : text
}

/** The encoded result inside a stored one, decompressed if needed. */
export const unpackResult = (stored: string): string =>
  stored.startsWith(COMPRESSED)
    ? brotliDecompressSync(Buffer.from(stored.slice(COMPRESSED.length), 'base64')).toString('utf8')
    : stored
