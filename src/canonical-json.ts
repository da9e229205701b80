/**
 * Canonical JSON straight from a JSON text, without building the parsed value: a small tokenizer,
 * compiled to WebAssembly from wasm/canonical-json.ts, checks the text, sorts each object's members
 * and copies every part that is already canonical (no whitespace, members in order, plain strings
 * and numbers) as a slice of the text.
 * The result is the same text as `canonicalJson(parseJsonExactly(text))`; the property tests
 * compare the two on generated JSON.
 */
import { brotliDecompressSync } from 'node:zlib'
import { CANONICAL_JSON_WASM } from './canonical-json-wasm.js'

/** The canonical JSON of a text, and how deep its objects and arrays nest (-1: none, 0: the root). */
export interface CanonicalText {
  text: string
  depth: number
}

// An integer literal beyond 2^53 has no exact double: JSON.parse would read 9007199254740993 as
// 9007199254740992, and two different requests would share a fingerprint. Such literals are kept
// as their digits (in a tagged object that no JSON body holds, as the result codec does); any other
// number counts by its value, so `1.0` and `1` still match. The reviver's `source` (Node 22) gives
// the literal; it runs only when the text holds a run of 16 digits or more.
const LONG_DIGITS = /\d{16}/
const INTEGER_TAG = '\u0000integer'
const bigIntegerDigits = (literal: string): string => literal.replace(/^(-?)0+(?=\d)/, '$1')

/**
 * `JSON.parse`, except that an integer literal beyond 2^53 whose digits differ from the double it
 * parses to becomes `{ "\u0000integer": "<digits>" }`.
 *
 * @example
 * parseJsonExactly('[9007199254740993, 1.0]') // [{ '\u0000integer': '9007199254740993' }, 1]
 */
export const parseJsonExactly = (text: string): unknown =>
  LONG_DIGITS.test(text)
    ? JSON.parse(text, function (this: unknown, _key: string, value: unknown, context?: { source?: string }) {
        if (typeof value !== 'number' || Number.isSafeInteger(value) || context?.source === undefined)
          return value
        const literal = context.source
        if (!/^-?\d+$/.test(literal) || BigInt(literal) === BigInt(value)) return value
        return { [INTEGER_TAG]: bigIntegerDigits(literal) }
      } as (key: string, value: unknown) => unknown)
    : JSON.parse(text)

// Texts up to this many characters are read by the WebAssembly reader; its memory grows to about
// ten bytes per character of the largest text read, and stays. Longer texts take the plain path.
const MAX_CHARACTERS = 2 ** 20
const PAGE = 65_536

// Node has WebAssembly, but the libraries this project compiles against (ES2023, @types/node 22) do
// not declare it: the little used here, declared for this module only.
interface WasmMemory {
  readonly buffer: ArrayBuffer
  grow(pages: number): number
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object, imports: object) => { exports: unknown }
  compile(bytes: Uint8Array): Promise<object>
}

interface Reader {
  canonicalize(
    size: number,
    outBase: number,
    outLimit: number,
    membersBase: number,
    membersLimit: number,
    order: number,
  ): number
  start(): number
  end(): number
  isSame(): number
  depth(): number
  memory: WasmMemory
}

let heap = Buffer.alloc(0) // the reader's memory, as bytes

// The two tokens the reader leaves to JavaScript: a number that JSON.stringify writes another way
// (or an integer beyond 2^53, kept as its digits), and a string with escapes. Each writes the
// canonical token at `at` and returns its length; -2 when the token already is canonical; -1 to
// give up (the text then takes the plain path).
const rewriteNumber = (start: number, end: number, integer: number, at: number, room: number): number => {
  const text = heap.toString('latin1', start, end)
  const value = Number(text)
  let canonical: string | undefined
  if (integer === 1 && !Number.isSafeInteger(value)) {
    if (!Number.isFinite(value)) return -1 // BigInt(Infinity) throws in the reviver
    if (BigInt(text) !== BigInt(value)) canonical = `{"\\u0000integer":"${bigIntegerDigits(text)}"}`
  }
  canonical ??= JSON.stringify(value)
  if (canonical === text) return -2
  return canonical.length > room ? -1 : heap.write(canonical, at, 'latin1')
}
const rewriteString = (start: number, end: number, at: number, room: number): number => {
  const raw = heap.toString('utf8', start, end)
  let canonical: string
  try {
    canonical = JSON.stringify(JSON.parse(raw))
  } catch {
    return -1
  }
  if (canonical === raw) return -2
  return Buffer.byteLength(canonical) > room ? -1 : heap.write(canonical, at, 'utf8')
}

// The reader once loaded; null where WebAssembly cannot run (`node --jitless` has none) or the
// module would not compile: every text then takes the plain path.
let reader: Reader | null | undefined
let compiling = false

const moduleBytes = (): Uint8Array => brotliDecompressSync(Buffer.from(CANONICAL_JSON_WASM, 'base64'))
const instantiate = (module: object): Reader =>
  new WebAssembly.Instance(module, { 'canonical-json': { rewriteNumber, rewriteString } })
    .exports as unknown as Reader

const load = (): Reader | null => {
  try {
    return instantiate(new WebAssembly.Module(moduleBytes()))
  } catch {
    return null
  }
}

// Compiles the reader off the main thread (about two milliseconds of CPU, once) while the text
// that asked for it takes the plain path; later texts find it ready.
const loadInBackground = (): void => {
  compiling = true
  const settle = (ready: () => Reader | null) => {
    if (reader !== undefined) return // a large text loaded it meanwhile
    try {
      reader = ready()
    } catch {
      reader = null
    }
  }
  try {
    WebAssembly.compile(moduleBytes()).then(
      (module) => settle(() => instantiate(module)),
      () => settle(() => null),
    )
  } catch {
    reader = null
  }
}

// Makes the reader's memory hold `size` bytes.
const room = (memory: WasmMemory, size: number): void => {
  if (memory.buffer.byteLength < size) memory.grow(Math.ceil((size - memory.buffer.byteLength) / PAGE))
  if (heap.buffer !== memory.buffer) heap = Buffer.from(memory.buffer)
}

const align = (offset: number) => (offset + 7) & ~7

// A text this long or longer waits for the reader to compile (a millisecond or two, once) if it is
// not ready yet; a shorter one takes the plain path until it is (a few microseconds, where the
// reader takes a fraction of one).
const MIN_CHARACTERS = 512

/**
 * Canonical JSON of a JSON text, as UTF-8 bytes: `canonicalJson(parseJsonExactly(text))` without
 * the parse. `undefined` when the text is not JSON, or is one the plain path takes: under 512
 * characters while the reader is still compiling, over a million, nesting over 1000 levels, a lone surrogate, an
 * escaped key or one with characters from U+E000, an integer literal too large for a double.
 * `same` means the text already is canonical. The bytes are only valid until the next call.
 *
 * A WebAssembly reader reads the text's UTF-8 bytes once and copies every run that already is
 * canonical (no whitespace, members in order, plain strings and numbers) in one piece; an object
 * whose members are out of order is rearranged, member by member, once it is read.
 *
 * @example
 * canonicalJsonBytes(JSON.stringify({ b: 'x'.repeat(600), a: 1 }))?.bytes // {"a":1,"b":"xx…"}
 */
export const canonicalJsonBytes = (source: string): CanonicalBytes | undefined => {
  if (reader === undefined && source.length < MIN_CHARACTERS) {
    if (!compiling) loadInBackground()
    return undefined
  }
  return readCanonicalJson(source)
}

interface CanonicalBytes {
  bytes: Uint8Array
  same: boolean
  depth: number
}

// The reader, for a text of any length.
const readCanonicalJson = (source: string): CanonicalBytes | undefined => {
  // Buffer writes a lone surrogate as U+FFFD: such texts take the plain path.
  if (source.length > MAX_CHARACTERS || !(source as unknown as { isWellFormed(): boolean }).isWellFormed())
    return undefined
  if (reader === undefined) reader = load()
  if (reader === null) return undefined
  const { memory } = reader
  let read: number
  let size: number
  try {
    // The text's bytes from 0 and a zero byte after them (it ends any string left open), then
    // the canonical text (room for twice the text: an object being rearranged is copied behind
    // it), the members of the open objects (24 bytes each, one per 4 bytes of text at most) and two
    // arrays of member indices to sort them.
    room(memory, 3 * source.length + 8)
    size = heap.write(source, 0, 'utf8')
    heap[size] = 0
    const outBase = align(size + 1)
    const membersBase = align(outBase + 2 * size + 256)
    const order = align(membersBase + 6 * size + 64)
    room(memory, order + 2 * size + 64)
    read = reader.canonicalize(size, outBase, membersBase, membersBase, order, order)
  } catch {
    // The reader gave up on the text (a trap), or the engine would not grow its memory: the plain
    // path answers.
    return undefined
  }
  if (read === 0) return undefined
  const start = reader.start()
  const end = reader.end()
  const same = reader.isSame() === 1
  return {
    bytes: heap.subarray(start, end),
    same: same && start === 0 && end === size,
    depth: reader.depth(),
  }
}

/**
 * Canonical JSON of a JSON text: `canonicalJson(parseJsonExactly(text))` without the parse, and
 * how deep its objects and arrays nest (-1: not at all, 0: the root), from the reader whatever the
 * text's length. `undefined` when the reader leaves the text to the plain path.
 *
 * @example
 * canonicalJsonText('{"b": 1, "a": [1.0, "x"]}') // { text: '{"a":[1,"x"],"b":1}', depth: 1 }
 */
export const canonicalJsonText = (source: string): CanonicalText | undefined => {
  const canonical = readCanonicalJson(source)
  if (canonical === undefined) return undefined
  const { bytes, same, depth } = canonical
  const text = same ? source : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8')
  return { text, depth }
}
