import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { canonicalJsonText } from '../../src/canonical-json.js'
import { hashedNowFingerprint } from '../../src/http.js'
import { canonicalJson, hashJson, hashValue, httpFingerprint, httpRequest } from '../../src/index.js'

// The reference: the plain implementation the fast path replaces, kept here as it was. JSON.parse
// with the integer rule of HTTP bodies (an integer literal beyond 2^53 whose digits differ from its
// double counts by its digits), then sorted keys and JSON.stringify.
const referenceParse = (text: string): unknown =>
  JSON.parse(text, (_key: string, value: unknown, context?: { source?: string }) => {
    if (typeof value !== 'number' || Number.isSafeInteger(value) || context?.source === undefined)
      return value
    const literal = context.source
    if (!/^-?\d+$/.test(literal) || BigInt(literal) === BigInt(value)) return value
    return { '\u0000integer': literal.replace(/^(-?)0+(?=\d)/, '$1') }
  })
const referenceSort = (value: unknown, depth = 0): unknown => {
  if (typeof value !== 'object' || value === null) return value
  if (depth > 1_000) throw new TypeError('value is nested more than 1000 levels deep')
  if (Array.isArray(value)) return value.map((item) => referenceSort(item, depth + 1))
  // No prototype, as in src/key.ts: a `__proto__` key is data (the plain path once dropped it).
  const sorted: Record<string, unknown> = Object.create(null)
  for (const key of Object.keys(value).sort()) {
    sorted[key] = referenceSort((value as Record<string, unknown>)[key], depth + 1)
  }
  return sorted
}
const reference = (value: unknown): string => JSON.stringify(referenceSort(value)) ?? 'undefined'
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')
// What the reference does with a text: its canonical JSON, or the error JSON.parse throws.
const referenceOf = (text: string): { canonical: string } | { error: string } => {
  try {
    return { canonical: reference(referenceParse(text)) }
  } catch (error) {
    return { error: (error as Error).name }
  }
}

// What the plain path says of a text, and that the reader (where it reads the text) and hashJson
// (whatever the text's length) say the same.
const expectPlainPathAnswer = (text: string) => {
  const expected = referenceOf(text)
  const fast = canonicalJsonText(text)
  if (fast !== undefined) expect({ canonical: fast.text }).toEqual(expected)
  // hashJson answers for every text: from the reader or, when it leaves one, the plain path.
  if ('canonical' in expected) expect(hashJson(text)).toBe(sha256(expected.canonical))
  else expect(() => hashJson(text)).toThrow()
}

// JSON text written the many ways a client may write it: whitespace anywhere, keys in any order,
// repeated and differing only in case, `__proto__`, integer-like keys, every string escape, numbers
// in every notation.
const space = fc.stringMatching(/^[ \t\n\r]{0,2}$/)
const hex = (code: number, upper: boolean) => {
  const digits = code.toString(16).padStart(4, '0')
  return `\\u${upper ? digits.toUpperCase() : digits}`
}
const SHORT: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
}
// One character of a string literal: raw when JSON allows it, else escaped; sometimes escaped anyway.
const encodedChar = (char: string) =>
  fc.constantFrom<('raw' | 'hex' | 'HEX' | 'slash')[]>(['raw'], ['hex'], ['HEX'], ['slash']).map(([how]) => {
    const code = char.charCodeAt(0)
    if (how === 'slash' && char === '/') return '\\/'
    if (how === 'hex' || how === 'HEX')
      return [...char].map((unit) => hex(unit.charCodeAt(0), how === 'HEX')).join('')
    if (char.length === 1 && (code < 0x20 || char === '"' || char === '\\'))
      return SHORT[char] ?? hex(code, false)
    return char
  })
const character = fc.oneof(
  fc.constantFrom('a', 'A', 'z', 'é', '/', '"', '\\', ' ', '\u0000', '\u001f', '\u007f', '\u2028', '\u2029'),
  fc.constantFrom('\ud800', '\udfff', '\ud83d\ude00', '\ue000', '\uffff', '\n', '\t', '\b', '\f', '\r'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
)
const stringLiteral = (chars: fc.Arbitrary<string>) =>
  fc.array(chars.chain(encodedChar), { maxLength: 6 }).map((parts) => `"${parts.join('')}"`)
const keyLiteral = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .constantFrom('a', 'b', 'A', 'B', 'ab', 'aB', 'Ab', 'id', 'ID', 'b10')
      .map((key) => `"${key}"`),
  },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom('0', '1', '9', '10', '01', '-1', '4294967294', '4294967295', '1e3')
      .map((key) => `"${key}"`),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '"__proto__"',
      '"toJSON"',
      '"constructor"',
      '"é"',
      '"\ue000"',
      '"\ud83d\ude00"',
    ),
  },
  { weight: 1, arbitrary: stringLiteral(character) },
)
const digits = (min: bigint, max: bigint) => fc.bigInt({ min, max }).map(String)
const numberLiteral = fc.oneof(
  digits(-1000n, 1000n),
  digits(-(2n ** 60n), 2n ** 60n),
  digits(2n ** 53n - 3n, 2n ** 53n + 3n),
  digits(-(10n ** 400n), 10n ** 400n),
  fc.constantFrom(
    '-0',
    '0.0',
    '-0.0',
    '1.0',
    '1.50',
    '1e2',
    '1E2',
    '1e+2',
    '1E-7',
    '0.000001',
    '0.0000001',
    '1e21',
  ),
  fc.constantFrom(
    '1e400',
    '-1e400',
    '1e-400',
    '123456789012345678',
    '0.1234567890123456789',
    '5e-324',
    '1.7976931348623157e308',
  ),
  fc
    .double({ noNaN: true, noDefaultInfinity: true })
    .chain((value) =>
      fc.constantFrom(
        JSON.stringify(value),
        value.toExponential(),
        value.toExponential().toUpperCase(),
        Math.abs(value) < 1e21 ? value.toFixed(3) : JSON.stringify(value),
      ),
    ),
)
const literal = fc.constantFrom('true', 'false', 'null')
const padded = (text: fc.Arbitrary<string>) =>
  fc.tuple(space, text, space).map(([before, value, after]) => `${before}${value}${after}`)
const { json } = fc.letrec<{ json: string; object: string; array: string }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    literal,
    numberLiteral,
    stringLiteral(character),
    tie('object'),
    tie('array'),
  ),
  object: fc
    .array(fc.tuple(padded(keyLiteral), padded(tie('json'))), { maxLength: 6 })
    .map((members) => `{${members.map(([key, value]) => `${key}:${value}`).join(',')}}`),
  array: fc.array(padded(tie('json')), { maxLength: 6 }).map((items) => `[${items.join(',')}]`),
}))
const jsonText = padded(json)
// Texts under 512 characters take the plain path in hashJson and the HTTP fingerprint until the
// reader has compiled in the background; the same texts inside a larger one take it at once.
const LONG = `"${'p'.repeat(600)}"`
const anySizeText = fc.oneof(
  jsonText,
  fc
    .tuple(jsonText, fc.boolean())
    .map(([text, first]) => (first ? `[${text},${LONG}]` : `{"z":${LONG},"a":${text}}`)),
)

const event = (body: string, isBase64Encoded = false) => ({
  version: '2.0',
  rawPath: '/payments',
  rawQueryString: '',
  headers: { 'idempotency-key': 'k' },
  requestContext: { http: { method: 'POST' }, domainName: 'api.example.com' },
  body,
  isBase64Encoded,
})
const fingerprintOf = (body: string, isBase64Encoded = false) => {
  const request = httpRequest(event(body, isBase64Encoded))
  if (request === undefined) throw new Error('not an HTTP event')
  return httpFingerprint(request)
}
// The fingerprint the plain path gave: null for no body, the canonical JSON of a JSON body, the
// SHA-256 of any other.
const referenceFingerprint = (text: string) => {
  if (text === '') return sha256(reference({ method: 'POST', path: '/payments', body: null }))
  const first = text.trimStart()[0]
  if (first === '{' || first === '[' || first === '"') {
    try {
      return sha256(reference({ method: 'POST', path: '/payments', body: { json: referenceParse(text) } }))
    } catch {
      // not JSON: its bytes
    }
  }
  return sha256(reference({ method: 'POST', path: '/payments', body: { sha256: sha256(text) } }))
}

describe('canonical JSON straight from the text', () => {
  it('gives the canonical JSON the plain path gives, for any JSON text', () => {
    fc.assert(fc.property(anySizeText, expectPlainPathAnswer), { numRuns: 2_000 })
  })

  it('leaves to the plain path only the texts it says it leaves', () => {
    // Without lone surrogates, escaped keys, keys from U+E000, `__proto__` keys or integers too large for a double,
    // every JSON text is canonicalized from its text.
    const ordinary = fc.letrec<{ json: string; object: string; array: string }>((tie) => ({
      json: fc.oneof(
        { depthSize: 'small' },
        literal,
        numberLiteral.filter((text) => !/^-?\d{309,}$/.test(text)),
        stringLiteral(
          character.filter((char) => (char as unknown as { isWellFormed(): boolean }).isWellFormed()),
        ),
        tie('object'),
        tie('array'),
      ),
      object: fc
        .array(
          fc.tuple(padded(fc.constantFrom('"a"', '"B"', '"10"', '"9"', '"é"', '"a"')), padded(tie('json'))),
          {
            maxLength: 6,
          },
        )
        .map((members) => `{${members.map(([key, value]) => `${key}:${value}`).join(',')}}`),
      array: fc.array(padded(tie('json')), { maxLength: 6 }).map((items) => `[${items.join(',')}]`),
    })).json
    fc.assert(
      fc.property(padded(ordinary), (text) => {
        const fast = canonicalJsonText(text)
        expect(fast?.text).toBe(reference(referenceParse(text)))
      }),
      { numRuns: 1_000 },
    )
  })

  it('gives the HTTP fingerprint the plain path gave, for JSON and for anything else', () => {
    const body = fc.oneof(
      anySizeText,
      fc.string({ unit: 'binary', maxLength: 20 }),
      anySizeText.map((text) => `${text}}`),
    )
    fc.assert(
      fc.property(body, (text) => {
        expect(hashValue(fingerprintOf(text))).toBe(referenceFingerprint(text))
        // idempotent()'s own fingerprint, which leaves the canonical body in the reader's memory.
        const request = httpRequest(event(text))
        if (request === undefined) throw new Error('not an HTTP event')
        expect(hashValue(hashedNowFingerprint(request))).toBe(referenceFingerprint(text))
      }),
      { numRuns: 1_000 },
    )
  })

  it('splices the canonical body into any value around it, as the plain path wrote it', () => {
    fc.assert(
      fc.property(anySizeText, fc.jsonValue(), (text, extra) => {
        const fingerprint = fingerprintOf(text) as Record<string, unknown>
        const parsed = { ...fingerprint, body: JSON.parse(JSON.stringify(fingerprint.body)) }
        for (const wrap of [
          (value: unknown) => value,
          (value: unknown) => ({ ...(value as object), tenant: extra }),
          (value: unknown) => [extra, value, { __proto__: value }],
          (value: unknown) => ({ z: [value], a: extra, toJSON: undefined }),
        ]) {
          expect(canonicalJson(wrap(fingerprint))).toBe(canonicalJson(wrap(parsed)))
        }
      }),
      { numRuns: 300 },
    )
  })
})

describe("idempotent()'s own HTTP fingerprint, written out as canonical JSON", () => {
  // Any request the middleware may see: REST (v1) or HTTP API (v2), any method and path, a query,
  // and a body that is absent, JSON text of any size, base64, not JSON, or already parsed.
  const text = fc.string({ unit: 'grapheme', maxLength: 12 })
  const request = fc.record({
    rest: fc.boolean(),
    method: fc.constantFrom('POST', 'put', 'PATCH', 'DELETE'),
    path: text.map((path) => `/${path}`),
    query: fc.array(fc.tuple(fc.constantFrom('a', 'b', 'Z', 'é'), text), { maxLength: 4 }),
    body: fc.oneof(
      fc.constant(undefined),
      fc.constant(''),
      anySizeText,
      anySizeText.map((json) => ({ base64: Buffer.from(json).toString('base64') })),
      fc.string({ unit: 'binary', maxLength: 20 }),
      fc.jsonValue().map((value) => ({ parsed: value })),
    ),
  })
  type Shape = typeof request extends fc.Arbitrary<infer T> ? T : never
  const eventOf = (shape: Shape) => {
    const { body } = shape
    const base64 = typeof body === 'object' && body !== null && 'base64' in body
    const value =
      typeof body === 'object' && body !== null ? ('base64' in body ? body.base64 : body.parsed) : body
    const rawQueryString = shape.query
      .map(([name, item]) => `${encodeURIComponent(name)}=${encodeURIComponent(item)}`)
      .join('&')
    const multi: Record<string, string[]> = {}
    for (const [name, item] of shape.query) multi[name] = [...(multi[name] ?? []), item]
    return shape.rest
      ? {
          httpMethod: shape.method,
          path: shape.path,
          headers: {},
          multiValueQueryStringParameters: shape.query.length > 0 ? multi : null,
          requestContext: {},
          body: value,
          isBase64Encoded: base64,
        }
      : {
          version: '2.0',
          rawPath: shape.path,
          rawQueryString,
          headers: {},
          requestContext: { http: { method: shape.method } },
          body: value,
          isBase64Encoded: base64,
        }
  }

  // The fingerprint as the plain path wrote it: method, path, the body as null, its JSON value or
  // the SHA-256 of its bytes, and the query sorted by name when there is one.
  const referenceRequestFingerprint = (shape: Shape): string => {
    const { body, isBase64Encoded } = eventOf(shape)
    let counted: unknown = null
    if (typeof body === 'string' && body !== '') {
      const bytes = Buffer.from(body, isBase64Encoded ? 'base64' : 'utf8')
      const text = isBase64Encoded ? bytes.toString('utf8') : body
      counted = {
        sha256: createHash('sha256')
          .update(isBase64Encoded ? bytes : body)
          .digest('hex'),
      }
      if (['{', '[', '"'].includes(text.trimStart()[0] ?? '')) {
        try {
          counted = { json: referenceParse(text) }
        } catch {
          // not JSON: its bytes
        }
      }
    } else if (body !== undefined && body !== null && body !== '') counted = { json: body }
    const query = [...shape.query].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return sha256(
      reference({
        method: shape.method.toUpperCase(),
        path: shape.path,
        body: counted,
        ...(query.length > 0 ? { query } : {}),
      }),
    )
  }

  it('hashes to what the plain path gave, as the readable fingerprint (httpFingerprint) does, for any request', () => {
    fc.assert(
      fc.property(request, (shape) => {
        const parsed = httpRequest(eventOf(shape))
        if (parsed === undefined) throw new Error('not an HTTP event')
        const expected = referenceRequestFingerprint(shape)
        expect(hashValue(hashedNowFingerprint(parsed))).toBe(expected)
        expect(hashValue(httpFingerprint(parsed))).toBe(expected)
      }),
      { numRuns: 1_000 },
    )
  })

  it('hashes a body a body parser left (dates, maps, sparse arrays, no prototype) as the readable fingerprint does', () => {
    const outcome = (fingerprint: () => unknown) => {
      try {
        return hashValue(fingerprint())
      } catch (error) {
        return `${(error as Error).name}: ${(error as Error).message}`
      }
    }
    const value = fc.anything({
      withDate: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withObjectString: true,
      withBoxedValues: true,
      withSparseArray: true,
    })
    fc.assert(
      fc.property(value, (body) => {
        const parsed = httpRequest({
          ...eventOf({ rest: false, method: 'POST', path: '/', query: [], body: undefined }),
          body,
        })
        if (parsed === undefined) throw new Error('not an HTTP event')
        expect(outcome(() => hashedNowFingerprint(parsed))).toBe(outcome(() => httpFingerprint(parsed)))
      }),
      { numRuns: 1_000 },
    )
    // A body that holds a fingerprint whose canonical JSON is already written (a large JSON body
    // read by the reader): spliced in as it is, on both paths.
    const large = httpRequest(
      eventOf({ rest: false, method: 'POST', path: '/', query: [], body: `{"z":${LONG},"a":1}` }),
    )
    if (large === undefined) throw new Error('not an HTTP event')
    const holder = httpRequest({
      ...eventOf({ rest: false, method: 'POST', path: '/', query: [], body: undefined }),
      body: { inner: httpFingerprint(large), tenant: 't1' },
    })
    if (holder === undefined) throw new Error('not an HTTP event')
    const spliced = outcome(() => hashedNowFingerprint(holder))
    expect(spliced).toMatch(/^[0-9a-f]{64}$/)
    expect(spliced).toBe(outcome(() => httpFingerprint(holder)))
  })

  it('refuses a body nested too deep where the readable fingerprint does, and only there', () => {
    const nested = (depth: number): unknown[] => (depth === 1 ? [] : [nested(depth - 1)])
    // As JSON text (read by the reader up to 1000 levels) and as a value a body parser left.
    const bodies = [996, 997, 998, 999, 1_000, 1_001].flatMap((depth) => [
      `${'['.repeat(depth)}${']'.repeat(depth)}`,
      nested(depth),
    ])
    const outcomes = bodies.map((body) => {
      const parsed = httpRequest({
        ...eventOf({ rest: false, method: 'POST', path: '/', query: [], body: undefined }),
        body,
      })
      if (parsed === undefined) throw new Error('not an HTTP event')
      // Thrown while the fingerprint is made or while it is hashed: both happen where idempotent()
      // reads the fingerprint, and answer the same.
      const outcome = (fingerprint: () => unknown) => {
        try {
          return hashValue(fingerprint()).length === 64 ? 'hashed' : 'other'
        } catch (error) {
          return (error as Error).message
        }
      }
      const made = outcome(() => hashedNowFingerprint(parsed))
      expect(made).toBe(outcome(() => httpFingerprint(parsed)))
      return made
    })
    // Both sides of the limit are reached: the comparison above is not between two errors only.
    expect(outcomes).toContain('hashed')
    expect(outcomes).toContain('value is nested more than 1000 levels deep')
  })
})

describe('the canonical body hashed from its bytes', () => {
  it('hashes a fingerprint, and any value around it, to the SHA-256 of the text canonicalJson writes', () => {
    fc.assert(
      fc.property(anySizeText, fc.jsonValue(), fc.boolean(), (text, extra, base64) => {
        const body = base64 ? Buffer.from(text).toString('base64') : text
        const fingerprint = fingerprintOf(body, base64)
        for (const value of [fingerprint, { tenant: extra, request: fingerprint }, [fingerprint, extra]]) {
          expect(hashValue(value)).toBe(sha256(canonicalJson(value)))
        }
        // A base64 body counts as the text its bytes decode to.
        const decoded = base64 ? Buffer.from(body, 'base64').toString('utf8') : text
        expect(hashValue(fingerprint)).toBe(referenceFingerprint(decoded))
      }),
      { numRuns: 500 },
    )
  })

  it('keeps the bytes of one body when another body is canonicalized before the hash', () => {
    // Long enough for the reader, which reuses its memory for the second body.
    const firstBody = `{"b":"été","a":[1.0, 2],"c":${LONG}}`
    const first = fingerprintOf(firstBody)
    const second = fingerprintOf(`{"z":"other body","y":[3,4,5,6,7,8],"x":${LONG}}`)
    expect(hashValue(first)).toBe(referenceFingerprint(firstBody))
    expect(hashValue(second)).not.toBe(hashValue(first))
  })
})

describe('canonical JSON straight from the text: cases worth naming', () => {
  it.each([
    [
      'whitespace before a closing brace of an object it rearranges',
      ' { "b" : 1 , "a" : [ ] } ',
      '{"a":[],"b":1}',
    ],
    ['trailing whitespace after a text otherwise canonical (a shrunk counterexample)', '{}\t', '{}'],
    ['the last of repeated keys', '{"a":1,"b":2,"a":3}', '{"a":3,"b":2}'],
    [
      'keys that differ only in case, by UTF-16 code unit',
      '{"b":1,"B":2,"a":3,"A":4}',
      '{"A":4,"B":2,"a":3,"b":1}',
    ],
    [
      'array-index keys first, in numeric order',
      '{"b":1,"10":2,"9":3,"4294967295":4,"01":5}',
      '{"9":3,"10":2,"01":5,"4294967295":4,"b":1}',
    ],
    ['numbers by value', '[1.0,1e2,1E-7,-0,-0.0,0.10,1e400]', '[1,100,1e-7,0,0,0.1,null]'],
    [
      'an integer beyond 2^53 by its digits',
      '[9007199254740993,9007199254740992]',
      '[{"\\u0000integer":"9007199254740993"},9007199254740992]',
    ],
    [
      'escapes written as JSON.stringify writes them',
      '["\\/","\\u00E9","\\u2028","\\u001F","\\ud800"]',
      '["/","é","\u2028","\\u001f","\\ud800"]',
    ],
  ])('%s', (_name, text, canonical) => {
    expect(canonicalJsonText(text)?.text).toBe(canonical)
    expect(reference(referenceParse(text))).toBe(canonical)
  })

  it('leaves a __proto__ member to the plain path, which keeps it as data (no collision with {})', () => {
    expect(canonicalJsonText('{"__proto__":{"x":1},"a":1}')).toBeUndefined()
    expect(hashValue(fingerprintOf('{"__proto__":{"x":1},"a":1}'))).not.toBe(
      hashValue(fingerprintOf('{"a":1}')),
    )
    expect(hashJson('{"a":1,"__proto__":{"x":1}}')).toBe(hashValue(JSON.parse('{"__proto__":{"x":1},"a":1}')))
  })

  it('gives up on what is not JSON, so the fingerprint falls back to the bytes', () => {
    for (const text of [
      '{"a":01}',
      '{"a":"\n"}',
      '[1,]',
      '{"a":1',
      '[1.]',
      '"\\x"',
      '{"a" 1}',
      '[tru]',
      '[1] x',
    ]) {
      expect(canonicalJsonText(text)).toBeUndefined()
      expect(() => JSON.parse(text)).toThrow()
    }
  })

  it('refuses nesting the plain path refuses, at the same depth', () => {
    const deep = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`
    // The fingerprint puts the body two levels down: {"body":{"json": ...}}.
    expect(() => hashValue(fingerprintOf(deep(999)))).not.toThrow()
    expect(() => hashValue(fingerprintOf(deep(1000)))).toThrow(/nested more than 1000 levels/)
    expect(() => hashJson(deep(1001))).not.toThrow()
    expect(() => hashJson(deep(1002))).toThrow(/nested more than 1000 levels/)
  })

  it('reads the parsed body when asked for it', () => {
    const fingerprint = fingerprintOf('{"b":[1.0,9007199254740993],"a":"x"}') as { body: { json: unknown } }
    expect(fingerprint.body.json).toEqual({ b: [1, { '\u0000integer': '9007199254740993' }], a: 'x' })
  })
})

describe('canonical JSON straight from the text: long strings, wide objects, large texts', () => {
  // Strings longer than the sixteen bytes the reader scans at once, with escapes, quotes and
  // control characters at any position; objects of up to 80 members, whose keys share long
  // prefixes, so that sorting runs past its small-object path and compares past the first bytes.
  const longString = fc
    .array(character.chain(encodedChar), { maxLength: 60 })
    .map((parts) => `"${parts.join('')}"`)
  const wideKey = fc.oneof(
    fc.constantFrom('attributes', 'attributeS', 'attribute', 'attributes2', 'a', '', 'é', 'Zz', '7', '10'),
    fc.stringMatching(/^[a-c]{0,12}$/),
    fc.integer({ min: 0, max: 200 }).map(String),
  )
  const { wide } = fc.letrec<{ wide: string; object: string; array: string }>((tie) => ({
    wide: fc.oneof({ depthSize: 'small' }, literal, numberLiteral, longString, tie('object'), tie('array')),
    object: fc
      .array(fc.tuple(wideKey, padded(tie('wide'))), { maxLength: 80 })
      .map((members) => `{${members.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`),
    array: fc.array(padded(tie('wide')), { maxLength: 8 }).map((items) => `[${items.join(',')}]`),
  }))

  it('gives the canonical JSON the plain path gives', () => {
    fc.assert(fc.property(padded(wide), expectPlainPathAnswer), { numRuns: 1_000 })
  })

  it('sorts an array of objects that share their keys, and one object of many keys in reverse order', () => {
    const items = Array.from({ length: 300 }, (_, i) => ({
      sku: `S${i}`,
      name: `n${i}`,
      attributes: { b: i, a: i % 3 },
    }))
    const reversed = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`key${5_000 - i}`, i]))
    for (const value of [items, reversed, { items, reversed }]) {
      const text = JSON.stringify(value)
      expect(canonicalJsonText(text)?.text).toBe(reference(referenceParse(text)))
    }
  })

  it('leaves a text of more than a million characters to the plain path, with the same hash', () => {
    const text = JSON.stringify({ b: 'x'.repeat(2 ** 20), a: [1.0, 2] })
    expect(canonicalJsonText(text)).toBeUndefined()
    expect(hashJson(text)).toBe(sha256(reference(referenceParse(text))))
    // The reader still answers for a small text afterwards, and after a large one it read.
    const large = JSON.stringify({ z: 'y'.repeat(500_000), a: 1 })
    expect(canonicalJsonText(large)?.text).toBe(reference(referenceParse(large)))
    expect(canonicalJsonText('{"b":1,"a":2}')?.text).toBe('{"a":2,"b":1}')
  })

  it.each([
    ['a backslash as the last character', '"abc\\'],
    ['a backslash before the end of a long string', `"${'x'.repeat(30)}\\`],
    ['a string never closed, past sixteen bytes', `"${'x'.repeat(40)}`],
    ['a control character after fifteen plain ones', `["${'x'.repeat(15)}\u0001"]`],
  ])('gives up on %s', (_name, text) => {
    expect(canonicalJsonText(text)).toBeUndefined()
    expect(() => JSON.parse(text)).toThrow()
  })
})
