/*
 * How the stream handlers decode what Lambda hands over base64-encoded (Kinesis `data`, Kafka
 * `key` and `value`) or as byte arrays (Kafka header values).
 *
 * The decision for bytes: UTF-8 text that parses as JSON is handed over parsed; other UTF-8 text
 * as the string; bytes that are not UTF-8 (Avro, Protocol Buffers, compressed data) as a
 * `Uint8Array`. A producer of plain text whose text happens to be JSON (`"42"`, `"true"`) therefore
 * gets the parsed value; the raw record, the handler's second argument, always has the original.
 */

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

/** The bytes of a base64 string; throws a `TypeError` naming `field` when it is not base64. */
export const base64Bytes = (value: unknown, field: string): Uint8Array => {
  // Buffer.from skips characters that are not base64 without a word: check first.
  if (typeof value !== 'string' || !BASE64.test(value)) {
    throw new TypeError(
      `${field} is not base64 (${typeof value === 'string' ? `${value.length} characters` : typeof value})`,
    )
  }
  return new Uint8Array(Buffer.from(value, 'base64'))
}

/** UTF-8 text, or `undefined` when the bytes are not UTF-8. */
export const utf8Text = (bytes: Uint8Array): string | undefined => {
  try {
    return utf8.decode(bytes)
  } catch {
    return undefined
  }
}

/**
 * Decodes a payload's bytes: parsed JSON, else the UTF-8 string, else the bytes.
 *
 * @example
 * decodeBytes(new TextEncoder().encode('{"a":1}')) // { a: 1 }
 * decodeBytes(new TextEncoder().encode('hello'))   // 'hello'
 */
export const decodeBytes = (bytes: Uint8Array): unknown => {
  const text = utf8Text(bytes)
  if (text === undefined) return bytes
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}
