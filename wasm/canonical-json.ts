// Canonical JSON straight from the UTF-8 bytes of a JSON text, compiled to WebAssembly
// (AssemblyScript; `npm run build:wasm` writes src/canonical-json-wasm.ts). It is the reader that
// src/canonical-json.ts drives: it checks the text, drops whitespace, sorts each object's members
// and copies every part that already is canonical in one piece. Tokens that JSON.stringify writes
// differently (escaped strings, numbers in other notations) are rewritten by the two functions
// imported from JavaScript. Anything it cannot vouch for traps (`unreachable`): the caller then
// takes the plain path (JSON.parse, sort, JSON.stringify), which gives the same answer, slower.
//
// Memory, laid out by the caller: the text's bytes from 0 (a zero byte after them), the canonical
// text from `outBase`, the members of the open objects from `membersBase` (24 bytes each: key
// start, key end, start in the canonical text, the key's first bytes) and two i32 arrays from
// `orderBase` for sorting.

// Writes the canonical form of the number src[start, end) at `at` (at most `room` bytes) and
// returns its length; -2 when the number already is canonical, -1 to give up.
declare function rewriteNumber(start: i32, end: i32, integer: i32, at: i32, room: i32): i32
// The same for a string with escapes, quotes included.
declare function rewriteString(start: i32, end: i32, at: i32, room: i32): i32

const MAX_DEPTH: i32 = 1000
// Bytes per member of an open object: key start, key end, start in the canonical text, then (at 16)
// the key's first seven bytes as a big-endian number (see sortMembers).
const MEMBER: i32 = 24

let length: i32 = 0
let outEnd: i32 = 0
let membersEnd: i32 = 0
let orderBase: i32 = 0
let o: i32 = 0 // where the next canonical byte goes
let run: i32 = 0 // start of the bytes read but not yet copied: they belong at o
let pos: i32 = 0
let same: bool = true
let escaped: bool = false // whether the last string read holds a backslash
let maxDepth: i32 = -1
let top: i32 = 0 // end of the members of the open objects
let resultStart: i32 = 0
let resultEnd: i32 = 0

/**
 * Reads the `size` bytes at 0. Returns 1 for JSON (then `start()`, `end()`, `same()` and
 * `depth()` tell the result) and 0 for a text that is not JSON; traps to give up.
 */
export function canonicalize(size: i32, outBase: i32, outLimit: i32, membersBase: i32, membersLimit: i32, order: i32): i32 {
  length = size
  outEnd = outLimit
  membersEnd = membersLimit
  orderBase = order
  o = outBase
  run = 0
  pos = 0
  same = true
  escaped = false
  maxDepth = -1
  top = membersBase
  skipSpace()
  const start = pos
  readValue(0)
  const end = pos
  while (isSpace(byte(pos))) pos++
  if (pos != length) return 0
  if (same) {
    resultStart = start
    resultEnd = end
  } else {
    flush(end)
    resultStart = outBase
    resultEnd = o
  }
  return 1
}

/** Where the canonical text starts: in the text itself when `same()`, else at `outBase`. */
export function start(): i32 {
  return resultStart
}

/** Where the canonical text ends. */
export function end(): i32 {
  return resultEnd
}

/** 1 when the canonical text is the text's own bytes, from `start()` to `end()`. */
export function isSame(): i32 {
  return same ? 1 : 0
}

/** How deep objects and arrays nest: -1 not at all, 0 the root. */
export function depth(): i32 {
  return maxDepth
}

@inline
function byte(at: i32): u32 {
  return load<u8>(at)
}

@inline
function isDigit(c: u32): bool {
  return c - 48 < 10
}

@inline
function isSpace(c: u32): bool {
  // Space, line feed, carriage return and tab as bits of one mask.
  return c <= 32 && ((<u64>0x100002600 >> c) & 1) != 0
}

// memory.copy, but a short copy is done here: the runtime call costs more than the bytes. Never
// used on overlapping ranges.
function copy(to: i32, from: i32, count: i32): void {
  if (count > 64) memory.copy(to, from, count)
  else if (count >= 8) {
    // Eight bytes at a time, the last eight overlapping what is already copied.
    for (let i = 0; i < count - 8; i += 8) store<u64>(to + i, load<u64>(from + i))
    store<u64>(to + count - 8, load<u64>(from + count - 8))
  } else if (count >= 4) {
    store<u32>(to, load<u32>(from))
    store<u32>(to + count - 4, load<u32>(from + count - 4))
  } else if (count > 0) {
    store<u8>(to, load<u8>(from))
    if (count > 1) store<u16>(to + count - 2, load<u16>(from + count - 2))
  }
}

function flush(end: i32): void {
  const count = end - run
  if (o + count > outEnd) unreachable()
  copy(o, run, count)
  o += count
}

@inline
function skipSpace(): void {
  let at = pos
  if (!isSpace(byte(at))) return
  flush(at)
  while (isSpace(byte(at))) at++
  pos = at
  run = at
  same = false
}

// Reads a string (pos on its opening quote) and returns where its content ends. Sixteen bytes at a
// time: the first quote, backslash or control character among them ends the step. The zero byte
// after the text ends a string that is never closed.
@inline
function readString(): i32 {
  let i = pos + 1
  let backslash = false
  const quote = i8x16.splat(34)
  const slash = i8x16.splat(92)
  const space = i8x16.splat(32)
  while (true) {
    const bytes = v128.load(i)
    const stops = i8x16.bitmask(v128.or(v128.or(i8x16.eq(bytes, quote), i8x16.eq(bytes, slash)), i8x16.lt_u(bytes, space)))
    if (stops == 0) {
      i += 16
      continue
    }
    i += ctz(stops)
    const c = byte(i)
    if (c == 34) break
    if (c < 32) unreachable()
    // A backslash and the character it escapes.
    backslash = true
    i += 2
    if (i > length) unreachable()
  }
  escaped = backslash
  pos = i + 1
  return i
}

// Replaces src[start, pos) with what a rewrite function wrote at o, if it wrote anything.
@inline
function rewritten(written: i32): void {
  if (written == -1) unreachable()
  if (written == -2) return // unchanged: the token stays in the run
  o += written
  run = pos
  same = false
}

// A string value (pos on its opening quote).
@inline
function readStringValue(): void {
  const start = pos
  readString()
  if (escaped) {
    // Escapes: JSON.stringify writes some as they came (\n, \") and others differently (\/, \u00e9).
    flush(start)
    run = start
    rewritten(rewriteString(start, pos, o, outEnd - o))
  }
}

function readValue(depth: i32): void {
  const c = byte(pos)
  if (c == 34) readStringValue()
  else if (c == 123) readObject(depth)
  else if (c == 91) readArray(depth)
  else if (c == 116) word(0x74727565, 4)
  else if (c == 102) word(0x616c7365, 5)
  else if (c == 110) word(0x6e756c6c, 4)
  else readNumber(depth)
}

// true, false, null: the last four letters as one number.
@inline
function word(tail: u32, size: i32): void {
  const end = pos + size
  if (end > length) unreachable()
  if (bswap<u32>(load<u32>(end - 4)) != tail) unreachable()
  pos = end
}

// -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?, left as written when JSON.stringify writes it so: an
// integer of up to 15 digits, or a decimal of up to 15 significant digits, no trailing zero and
// no exponent, from 1e-6 and below 1e21.
function readNumber(depth: i32): void {
  const start = pos
  let at = start
  let c = byte(at)
  // Most numbers are integers of a few digits, already canonical.
  if (c - 49 < 9) {
    c = byte(++at)
    while (isDigit(c)) c = byte(++at)
    if (c != 46 && (c | 32) != 101 && at - start < 16) {
      pos = at
      return
    }
    at = start
    c = byte(at)
  }
  if (c == 45) c = byte(++at)
  const integerStart = at
  if (c == 48) c = byte(++at)
  else if (isDigit(c)) while (isDigit(c)) c = byte(++at)
  else unreachable()
  const integerDigits = at - integerStart
  let fraction = false
  let plain = true
  if (c == 46) {
    fraction = true
    const fractionStart = ++at
    c = byte(at)
    while (isDigit(c)) c = byte(++at)
    if (at == fractionStart) unreachable()
    let significant = integerDigits + at - fractionStart
    if (byte(integerStart) == 48) {
      let zeros = 0
      while (byte(fractionStart + zeros) == 48) zeros++
      if (zeros > 5) plain = false
      significant -= zeros + 1
    }
    if (significant > 15 || byte(at - 1) == 48) plain = false
  }
  if (c == 101 || c == 69) {
    c = byte(++at)
    if (c == 43 || c == 45) c = byte(++at)
    if (!isDigit(c)) unreachable()
    while (isDigit(c)) c = byte(++at)
    plain = false
  }
  pos = at
  if (plain && (fraction || integerDigits < 16)) {
    // -0 is written 0.
    if (!fraction && integerStart > start && byte(integerStart) == 48) {
      flush(start)
      if (o + 1 > outEnd) unreachable()
      store<u8>(o, 48)
      o++
      run = pos
      same = false
    }
    return
  }
  flush(start)
  run = start
  const integer = !fraction && at - integerStart == integerDigits
  const written = rewriteNumber(start, at, integer ? 1 : 0, o, outEnd - o)
  // An integer beyond 2^53 becomes an object, one level deeper.
  if (written > 0 && byte(o) == 123 && depth > maxDepth) maxDepth = depth
  rewritten(written)
}

@inline
function enter(depth: i32): void {
  if (depth > MAX_DEPTH) unreachable()
  if (depth > maxDepth) maxDepth = depth
  pos++
  skipSpace()
}

// After a value: true for a comma and the next value, false on the container's end.
@inline
function next(close: u32): bool {
  skipSpace()
  const c = byte(pos)
  if (c == close) return false
  if (c != 44) unreachable()
  pos++
  skipSpace()
  return true
}

function readArray(depth: i32): void {
  enter(depth)
  if (byte(pos) != 93) {
    do {
      if (byte(pos) == 34) readStringValue()
      else readValue(depth + 1)
    } while (next(93))
  }
  pos++
}

function readObject(depth: i32): void {
  enter(depth)
  if (byte(pos) == 125) {
    pos++
    return
  }
  const base = top
  let ordered = true
  do {
    if (byte(pos) != 34) unreachable()
    const memberStart = o + pos - run
    const keyStart = pos + 1
    const keyEnd = readString()
    if (escaped) unreachable()
    const member = top
    if (member + MEMBER > membersEnd) unreachable()
    store<i32>(member, keyStart)
    store<i32>(member, keyEnd, 4)
    store<i32>(member, memberStart, 8)
    // A `__proto__` member is left to the plain path, which keeps it as data.
    if (keyEnd - keyStart == 9 && isProto(keyStart)) unreachable()
    // Members out of order or repeated (JSON.parse keeps the last) rearrange. Keys that start
    // with different letters order by them.
    if (ordered && member > base) {
      const x = byte(load<i32>(member - MEMBER))
      const y = byte(keyStart)
      if (x == y || x - 48 < 10 || y - 48 < 10 || x >= 0xee || y >= 0xee) {
        if (compareWholeKeys(member - MEMBER, member) >= 0) ordered = false
      } else if (x > y) ordered = false
    }
    top = member + MEMBER
    skipSpace()
    if (byte(pos) != 58) unreachable()
    pos++
    skipSpace()
    if (byte(pos) == 34) readStringValue()
    else readValue(depth + 1)
  } while (next(125))
  if (!ordered) rearrange(base)
  top = base
  pos++
}

// Writes the members of the object just read (pos on its closing brace) in canonical order.
function rearrange(base: i32): void {
  flush(pos)
  run = pos
  same = false
  const start = load<i32>(base, 8)
  const end = o
  if (end + end - start > outEnd) unreachable()
  copy(end, start, end - start) // a copy to read from, behind the text
  const count = (top - base) / MEMBER
  const repeats = sortMembers(base, count)
  let at = start
  let first = true
  for (let k = 0; k < count; k++) {
    const i = load<i32>(orderBase + 4 * k)
    const member = base + MEMBER * i
    if (repeats && k + 1 < count && compareKeys(member, base + MEMBER * load<i32>(orderBase + 4 * k + 4)) == 0)
      continue
    if (!first) store<u8>(at++, 44)
    first = false
    // Member i spans from its start to the comma before the next member (or the end).
    const from = load<i32>(member, 8) - start + end
    const to = (i + 1 < count ? load<i32>(member, MEMBER + 8) - 1 : end) - start + end
    copy(at, from, to - from)
    at += to - from
  }
  o = at
}

function isProto(start: i32): bool {
  // __proto__: its first eight bytes as one little-endian number, then the last.
  return load<u64>(start) == 0x5f6f746f72705f5f && byte(start + 8) == 95
}

// V8 lists integer-like keys (array indices up to 2^32 - 2) first, in numeric order, whatever the
// insertion order: the canonical order is that one, then the other keys by UTF-16 code units.
// UTF-8 bytes sort as UTF-16 code units do below U+E000; keys with higher characters give up.
function arrayIndex(start: i32, end: i32): i64 {
  const size = end - start
  const first = byte(start)
  if (size == 0 || size > 10 || !isDigit(first) || (first == 48 && size > 1)) return -1
  let index: i64 = 0
  for (let i = start; i < end; i++) {
    const c = byte(i)
    if (!isDigit(c)) return -1
    index = index * 10 + <i64>(c - 48)
  }
  return index <= 4_294_967_294 ? index : -1
}

// How two members' keys order: negative, 0 (the same key) or positive. Most keys differ in their
// first seven bytes, which sortMembers puts in each member as one big-endian number (bit 0 set for
// a key that needs the whole comparison).
@inline
function compareKeys(a: i32, b: i32): i32 {
  const x = load<u64>(a, 16)
  const y = load<u64>(b, 16)
  if (x != y && ((x | y) & 1) == 0) return x < y ? -1 : 1
  return compareWholeKeys(a, b)
}

function compareWholeKeys(a: i32, b: i32): i32 {
  const aStart = load<i32>(a)
  const aEnd = load<i32>(a, 4)
  const bStart = load<i32>(b)
  const bEnd = load<i32>(b, 4)
  if (isDigit(byte(aStart)) || isDigit(byte(bStart))) {
    const ai = arrayIndex(aStart, aEnd)
    const bi = arrayIndex(bStart, bEnd)
    if (ai >= 0 || bi >= 0) return ai < 0 ? 1 : bi < 0 ? -1 : ai < bi ? -1 : ai > bi ? 1 : 0
  }
  const aSize = aEnd - aStart
  const bSize = bEnd - bStart
  const common = aSize < bSize ? aSize : bSize
  for (let i = 0; i < common; i++) {
    const x = byte(aStart + i)
    const y = byte(bStart + i)
    if (x != y) {
      if (x >= 0xee || y >= 0xee) unreachable()
      return <i32>x - <i32>y
    }
  }
  return aSize - bSize
}

// A stable sort of the member indices into the order array: insertion for the usual small
// object, merging runs for a large one (a large object in reverse order would take quadratic time).
// Returns false when no key repeats.
function sortMembers(base: i32, count: i32): bool {
  const order = orderBase
  // Each key's first seven bytes, zeros after a shorter key (a key holds no zero byte); 1 for an
  // integer-like key or one with other than ASCII characters, which take the whole comparison.
  for (let member = base; member < base + MEMBER * count; member += MEMBER) {
    const keyStart = load<i32>(member)
    const size = load<i32>(member, 4) - keyStart
    let prefix = load<u64>(keyStart) & 0xffffffffffffff
    if (size < 7) prefix &= (<u64>1 << (<u64>size << 3)) - 1
    const whole = isDigit(byte(keyStart)) || (prefix & 0x80808080808080) != 0
    store<u64>(member, whole ? 1 : bswap<u64>(prefix), 16)
  }
  // Insertion compares each key with the one it ends up after: a repeated key shows there.
  let repeats = false
  for (let i = 0; i < count; i++) {
    const run = i - (i % 16)
    let j = i - 1
    while (j >= run) {
      const ordered = compareKeys(base + MEMBER * load<i32>(orderBase + 4 * j), base + MEMBER * i)
      if (ordered <= 0) {
        if (ordered == 0) repeats = true
        break
      }
      store<i32>(orderBase + 4 * j + 4, load<i32>(orderBase + 4 * j))
      j--
    }
    store<i32>(orderBase + 4 * j + 4, i)
  }
  if (count <= 16) return repeats
  // Runs of 16 are sorted; merge them pairwise into the second array and back.
  let from = order
  let into = order + 4 * count
  for (let width = 16; width < count; width *= 2) {
    for (let left = 0; left < count; left += 2 * width) {
      const middle = min(left + width, count)
      const right = min(left + 2 * width, count)
      let i = left
      let j = middle
      for (let k = left; k < right; k++) {
        if (i < middle && (j >= right || compareKeys(base + MEMBER * load<i32>(from + 4 * i), base + MEMBER * load<i32>(from + 4 * j)) <= 0)) {
          store<i32>(into + 4 * k, load<i32>(from + 4 * i))
          i++
        } else {
          store<i32>(into + 4 * k, load<i32>(from + 4 * j))
          j++
        }
      }
    }
    const swap = from
    from = into
    into = swap
  }
  if (from != order) memory.copy(order, from, 4 * count)
  return true // merged runs: repeats are looked for in order
}
