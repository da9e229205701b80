/**
 * Canonical JSON straight from a JSON text, without building the parsed value: a small tokenizer
 * that checks the text, sorts each object's members and copies every part that is already
 * canonical (no whitespace, members in order, plain strings and numbers) as a slice of the text.
 * The result is the same text as `canonicalJson(parseJsonExactly(text))`; the property tests
 * compare the two on generated JSON.
 */

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

// Thrown inside the tokenizer when it cannot vouch for a text (invalid JSON, nesting deeper than
// any hash accepts, an escaped key, a number JSON.parse's reviver would throw on): the caller
// takes the plain path, which gives the same answer for every text, only slower.
const GIVE_UP = new Error('not canonicalized from text')
const MAX_DEPTH = 1_000
const KEPT_BYTES = 2 ** 20
const keptBuffers: Buffer[] = [Buffer.alloc(0), Buffer.alloc(0)]
const kept = (which: 0 | 1, size: number): Buffer => {
  let buffer = keptBuffers[which] as Buffer
  if (buffer.length < size) {
    buffer = Buffer.allocUnsafeSlow(Math.max(size, 2 * buffer.length))
    keptBuffers[which] = buffer
  }
  return buffer
}
let keptOrder = new Int32Array(64)
let keptMembers = new Int32Array(384)
const PROTO = [95, 95, 112, 114, 111, 116, 111, 95, 95] // __proto__

const isDigit = (c: number) => c >= 48 && c <= 57
const isSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9

/**
 * Canonical JSON of a JSON text, as UTF-8 bytes: `canonicalJson(parseJsonExactly(text))` without
 * the parse. `undefined` when the text is not JSON or is one of the rare texts left to the plain
 * path (nesting over 1000 levels, a lone surrogate, an escaped key or one with characters from
 * U+E000, an integer literal too large for a double). `same` means the text already is canonical.
 * The bytes are only valid until the next call.
 *
 * It reads the text's UTF-8 bytes once and copies every run that already is canonical (no
 * whitespace, members in order, plain strings and numbers) in one piece; an object whose members
 * are out of order is rearranged in place, member by member, once it is read.
 *
 * @example
 * canonicalJsonBytes('{"b": 1, "a": [1.0, "x"]}')?.bytes // the UTF-8 bytes of {"a":[1,"x"],"b":1}
 */
export const canonicalJsonBytes = (
  source: string,
): { bytes: Uint8Array; same: boolean; depth: number } | undefined => {
  // Buffer writes a lone surrogate as U+FFFD: such texts take the plain path.
  if (!(source as unknown as { isWellFormed(): boolean }).isWellFormed()) return undefined
  // Fresh buffers for every large body would keep the garbage collector busy: the bytes and the
  // canonical text go to two buffers kept for the next call (at most 1 MB each, so about 2 MB stay
  // allocated; larger bodies get their own), read before this function is called again.
  const room = 3 * source.length + 64
  const input = room <= KEPT_BYTES ? kept(0, room) : Buffer.allocUnsafe(room)
  const length = input.write(source, 0, 'utf8')
  const outRoom = 2 * length + 64
  const reader = new Reader(
    input,
    length,
    outRoom <= KEPT_BYTES ? kept(1, outRoom) : Buffer.allocUnsafe(outRoom),
  )
  try {
    return reader.read()
  } catch (error) {
    if (error === GIVE_UP) return undefined
    throw error
  }
}

class Reader {
  readonly src: Uint8Array
  o = 0 // bytes written to out
  run = 0 // start of the bytes read but not yet copied: they belong at out[o]
  pos = 0
  same = true
  escaped = false // whether the last string read holds a backslash
  maxDepth = -1
  // Members of the open objects: key start, key end (in src, quotes excluded), start in out.
  members = keptMembers
  top = 0

  constructor(
    readonly input: Buffer,
    readonly length: number,
    // Room for the canonical text and, behind it, a copy of the object being rearranged.
    public out: Buffer,
  ) {
    this.src = new Uint8Array(input.buffer, input.byteOffset, length)
  }

  read(): { bytes: Uint8Array; same: boolean; depth: number } | undefined {
    this.skipSpace()
    const start = this.pos
    this.readValue(0)
    const end = this.pos
    while (isSpace(this.src[this.pos] as number)) this.pos++
    if (this.pos !== this.length) return undefined
    if (this.same) {
      const same = start === 0 && end === this.length
      return { bytes: same ? this.src : this.src.subarray(start, end), same, depth: this.maxDepth }
    }
    this.flush(end)
    return { bytes: this.out.subarray(0, this.o), same: false, depth: this.maxDepth }
  }

  flush(end: number) {
    const { run, o } = this
    const count = end - run
    if (count > 48) this.input.copy(this.out, o, run, end)
    else {
      const { src, out } = this
      for (let i = 0; i < count; i++) out[o + i] = src[run + i] as number
    }
    this.o = o + count
  }

  // Writes a rewritten token in place of src[start, pos).
  rewrite(start: number, text: string) {
    this.flush(start)
    const needed = 2 * (this.o + 3 * text.length + this.length - this.pos) + 64
    if (this.out.length < needed) {
      const larger = Buffer.allocUnsafe(needed * 2)
      this.out.copy(larger, 0, 0, this.o)
      this.out = larger
    }
    this.o += this.out.write(text, this.o, 'utf8')
    this.run = this.pos
    this.same = false
  }

  skipSpace() {
    const { src } = this
    let pos = this.pos
    if (!isSpace(src[pos] as number)) return
    this.flush(pos)
    while (isSpace(src[pos] as number)) pos++
    this.pos = pos
    this.run = pos
    this.same = false
  }

  // Reads a string (pos on its opening quote) and returns where its content ends.
  readString(): number {
    const { src, length } = this
    let i = this.pos + 1
    let escaped = false
    for (let c = src[i] as number; c !== 34; c = src[i] as number) {
      if (c < 32 || i >= length) throw GIVE_UP
      if (c === 92) {
        escaped = true
        i++
      }
      i++
    }
    this.escaped = escaped
    this.pos = i + 1
    return i
  }

  readValue(depth: number) {
    const c = this.src[this.pos] as number
    if (c === 34) {
      const start = this.pos
      this.readString()
      if (this.escaped) {
        // Escapes: JSON.stringify writes some as they came (\n, \") and others differently (\/, \u00e9).
        const raw = this.input.toString('utf8', start, this.pos)
        let text: string
        try {
          text = JSON.stringify(JSON.parse(raw))
        } catch {
          throw GIVE_UP
        }
        if (text !== raw) this.rewrite(start, text)
      }
    } else if (c === 123) this.readObject(depth)
    else if (c === 91) this.readArray(depth)
    else if (c === 116) this.word(0x74727565, 4)
    else if (c === 102) this.word(0x616c7365, 5)
    else if (c === 110) this.word(0x6e756c6c, 4)
    else this.readNumber(depth)
  }

  // true, false, null: the last four letters as one number.
  word(tail: number, size: number) {
    const { src } = this
    const end = this.pos + size
    if (end > this.length) throw GIVE_UP
    const last =
      ((src[end - 4] as number) << 24) |
      ((src[end - 3] as number) << 16) |
      ((src[end - 2] as number) << 8) |
      (src[end - 1] as number)
    if (last !== tail) throw GIVE_UP
    this.pos = end
  }

  // -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?, left as written when JSON.stringify writes it so: an
  // integer of up to 15 digits, or a decimal of up to 15 significant digits, no trailing zero and
  // no exponent, from 1e-6 and below 1e21.
  readNumber(depth: number) {
    const { src } = this
    const start = this.pos
    let pos = start
    let c = src[pos] as number
    if (c === 45) c = src[++pos] as number
    const integerStart = pos
    if (c === 48) c = src[++pos] as number
    else if (isDigit(c)) while (isDigit(c)) c = src[++pos] as number
    else throw GIVE_UP
    const integerDigits = pos - integerStart
    let fraction = false
    let plain = true
    if (c === 46) {
      fraction = true
      const fractionStart = ++pos
      c = src[pos] as number
      while (isDigit(c)) c = src[++pos] as number
      if (pos === fractionStart) throw GIVE_UP
      let significant = integerDigits + pos - fractionStart
      if (src[integerStart] === 48) {
        let zeros = 0
        while (src[fractionStart + zeros] === 48) zeros++
        if (zeros > 5) plain = false
        significant -= zeros + 1
      }
      if (significant > 15 || src[pos - 1] === 48) plain = false
    }
    if (c === 101 || c === 69) {
      c = src[++pos] as number
      if (c === 43 || c === 45) c = src[++pos] as number
      if (!isDigit(c)) throw GIVE_UP
      while (isDigit(c)) c = src[++pos] as number
      plain = false
    }
    this.pos = pos
    if (plain && (fraction || integerDigits < 16)) {
      // -0 is written 0.
      if (!fraction && integerStart > start && src[integerStart] === 48) this.rewrite(start, '0')
      return
    }
    const text = this.input.toString('latin1', start, pos)
    const value = Number(text)
    if (!fraction && pos - integerStart === integerDigits && !Number.isSafeInteger(value)) {
      if (!Number.isFinite(value)) throw GIVE_UP // BigInt(Infinity) throws in the reviver
      if (BigInt(text) !== BigInt(value)) {
        if (depth > this.maxDepth) this.maxDepth = depth
        this.rewrite(start, `{"\\u0000integer":"${bigIntegerDigits(text)}"}`)
        return
      }
    }
    const written = JSON.stringify(value)
    if (written !== text) this.rewrite(start, written)
  }

  enter(depth: number) {
    if (depth > MAX_DEPTH) throw GIVE_UP
    if (depth > this.maxDepth) this.maxDepth = depth
    this.pos++
    this.skipSpace()
  }

  // After a value: true for a comma and the next value, false on the container's end.
  next(close: number): boolean {
    this.skipSpace()
    const c = this.src[this.pos] as number
    if (c === close) return false
    if (c !== 44) throw GIVE_UP
    this.pos++
    this.skipSpace()
    return true
  }

  readArray(depth: number) {
    this.enter(depth)
    if (this.src[this.pos] !== 93) {
      do this.readValue(depth + 1)
      while (this.next(93))
    }
    this.pos++
  }

  readObject(depth: number) {
    this.enter(depth)
    const { src } = this
    if (src[this.pos] === 125) {
      this.pos++
      return
    }
    const base = this.top
    let ordered = true
    do {
      if (src[this.pos] !== 34) throw GIVE_UP
      const memberStart = this.o + this.pos - this.run
      const keyStart = this.pos + 1
      const keyEnd = this.readString()
      if (this.escaped) throw GIVE_UP
      let { members, top } = this
      if (top + 3 > members.length) {
        const larger = new Int32Array(members.length * 2)
        larger.set(members)
        members = larger
        this.members = larger
        keptMembers = larger
      }
      members[top] = keyStart
      members[top + 1] = keyEnd
      members[top + 2] = memberStart
      // A `__proto__` member is left to the plain path, which keeps it as data.
      if (isProto(src, members, top)) throw GIVE_UP
      // Members out of order or repeated (JSON.parse keeps the last) rearrange.
      if (ordered && top > base && compareKeys(src, members, top - 3, top) >= 0) ordered = false
      this.top = top + 3
      this.skipSpace()
      if (src[this.pos++] !== 58) throw GIVE_UP
      this.skipSpace()
      this.readValue(depth + 1)
    } while (this.next(125))
    if (!ordered) this.rearrange(base)
    this.top = base
    this.pos++
  }

  // Writes the members of the object just read (pos on its closing brace) in canonical order.
  rearrange(base: number) {
    this.flush(this.pos)
    this.run = this.pos
    this.same = false
    const { src, members, out, top } = this
    const start = members[base + 2] as number
    const end = this.o
    out.copyWithin(end, start, end) // a copy to read from, behind the text
    const count = (top - base) / 3
    if (keptOrder.length < count) keptOrder = new Int32Array(2 * count)
    const order = keptOrder
    sortMembers(src, members, base, count, order)
    let o = start
    let first = true
    for (let k = 0; k < count; k++) {
      const i = order[k] as number
      const at = base + 3 * i
      if (k + 1 < count && compareKeys(src, members, at, base + 3 * (order[k + 1] as number)) === 0) continue
      if (!first) out[o++] = 44
      first = false
      // Member i spans from its start to the comma before the next member (or the end).
      const from = (members[at + 2] as number) - start + end
      const to = (i + 1 < count ? (members[at + 5] as number) - 1 : end) - start + end
      if (to - from > 16) out.copyWithin(o, from, to)
      else for (let j = from; j < to; j++) out[o + j - from] = out[j] as number
      o += to - from
    }
    this.o = o
  }
}

const isProto = (src: Uint8Array, members: Int32Array, at: number): boolean => {
  const start = members[at] as number
  if ((members[at + 1] as number) - start !== 9) return false
  for (let i = 0; i < 9; i++) if (src[start + i] !== PROTO[i]) return false
  return true
}

// V8 lists integer-like keys (array indices up to 2^32 - 2) first, in numeric order, whatever the
// insertion order: the canonical order is that one, then the other keys by UTF-16 code units.
// UTF-8 bytes sort as UTF-16 code units do below U+E000; keys with higher characters give up.
const arrayIndex = (src: Uint8Array, start: number, end: number): number => {
  const length = end - start
  const first = src[start] as number
  if (length === 0 || length > 10 || !isDigit(first) || (first === 48 && length > 1)) return -1
  let index = 0
  for (let i = start; i < end; i++) {
    const c = src[i] as number
    if (!isDigit(c)) return -1
    index = index * 10 + c - 48
  }
  return index <= 4_294_967_294 ? index : -1
}

const compareKeys = (src: Uint8Array, members: Int32Array, a: number, b: number): number => {
  const aStart = members[a] as number
  const aEnd = members[a + 1] as number
  const bStart = members[b] as number
  const bEnd = members[b + 1] as number
  if (isDigit(src[aStart] as number) || isDigit(src[bStart] as number)) {
    const ai = arrayIndex(src, aStart, aEnd)
    const bi = arrayIndex(src, bStart, bEnd)
    if (ai >= 0 || bi >= 0) return ai < 0 ? 1 : bi < 0 ? -1 : ai - bi
  }
  const common = Math.min(aEnd - aStart, bEnd - bStart)
  for (let i = 0; i < common; i++) {
    const x = src[aStart + i] as number
    const y = src[bStart + i] as number
    if (x !== y) {
      if (x >= 0xee || y >= 0xee) throw GIVE_UP
      return x - y
    }
  }
  return aEnd - aStart - (bEnd - bStart)
}

// A stable insertion sort of the member indices: objects are small.
const sortMembers = (
  src: Uint8Array,
  members: Int32Array,
  base: number,
  count: number,
  order: Int32Array,
): void => {
  for (let i = 0; i < count; i++) {
    let j = i - 1
    while (j >= 0 && compareKeys(src, members, base + 3 * (order[j] as number), base + 3 * i) > 0) {
      order[j + 1] = order[j] as number
      j--
    }
    order[j + 1] = i
  }
}

/**
 * Canonical JSON of a JSON text: `canonicalJson(parseJsonExactly(text))` without the parse, and
 * how deep its objects and arrays nest (-1: not at all, 0: the root). `undefined` when
 * `canonicalJsonBytes` leaves the text to the plain path.
 *
 * @example
 * canonicalJsonText('{"b": 1, "a": [1.0, "x"]}') // { text: '{"a":[1,"x"],"b":1}', depth: 1 }
 */
export const canonicalJsonText = (source: string): CanonicalText | undefined => {
  const canonical = canonicalJsonBytes(source)
  if (canonical === undefined) return undefined
  const { bytes, same, depth } = canonical
  const text = same ? source : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8')
  return { text, depth }
}
