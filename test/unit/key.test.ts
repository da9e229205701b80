import { describe, expect, it } from 'vitest'
import { canonicalJson, hashValue, recordId } from '../../src/index.js'
import { normalizeKey } from '../../src/key.js'

describe('canonicalJson', () => {
  it('ignores key order at every depth', () => {
    expect(canonicalJson({ b: 1, a: { d: [{ y: 1, x: 2 }], c: 3 } })).toBe(
      canonicalJson({ a: { c: 3, d: [{ x: 2, y: 1 }] }, b: 1 }),
    )
  })

  it('keeps array order, and distinguishes values JSON distinguishes', () => {
    expect(canonicalJson([1, 2])).not.toBe(canonicalJson([2, 1]))
    expect(canonicalJson({ a: '1' })).not.toBe(canonicalJson({ a: 1 }))
    expect(canonicalJson({ a: null })).not.toBe(canonicalJson({}))
  })

  it('follows JSON.stringify for dates, toJSON and undefined properties', () => {
    expect(canonicalJson({ at: new Date(0), gone: undefined })).toBe('{"at":"1970-01-01T00:00:00.000Z"}')
    expect(canonicalJson(undefined)).toBe('undefined')
  })

  it('throws on input it cannot hash rather than hashing something else', () => {
    const cycle: Record<string, unknown> = {}
    cycle.self = cycle
    expect(() => canonicalJson(cycle)).toThrow(/nested more than 1000 levels/)
    expect(() => canonicalJson({ n: 1n })).toThrow(TypeError)
  })

  it('hashes to 64 hex characters', () => {
    expect(hashValue({ a: 1 })).toMatch(/^[0-9a-f]{64}$/)
  })
})

describe('normalizeKey', () => {
  it('accepts strings and finite numbers, and reads empty values as no key', () => {
    expect(normalizeKey('k')).toBe('k')
    expect(normalizeKey(42)).toBe('42')
    expect(normalizeKey('')).toBeUndefined()
    expect(normalizeKey(null)).toBeUndefined()
    expect(normalizeKey(undefined)).toBeUndefined()
  })

  it('accepts 255 characters and refuses 256', () => {
    expect(normalizeKey('x'.repeat(255))).toHaveLength(255)
    expect(() => normalizeKey('x'.repeat(256))).toThrow(/256 characters long; the limit is 255/)
  })

  it.each(['\u0000', '\t', '\r\n', '\u001b[31m', '\u007f', '\u0085'])(
    'refuses the control character %j',
    (c) => {
      expect(() => normalizeKey(`key${c}`)).toThrow(/contains a control character/)
    },
  )
})

describe('recordId', () => {
  it('separates functions, wrapped functions, scopes and keys, even when the parts contain separators', () => {
    const ids = new Set([
      recordId({ functionName: 'a', name: '', scope: '' }, 'k'),
      recordId({ functionName: 'b', name: '', scope: '' }, 'k'),
      recordId({ functionName: 'a', name: 'n', scope: '' }, 'k'),
      recordId({ functionName: 'a', name: '', scope: 's' }, 'k'),
      recordId({ functionName: 'a', name: '', scope: '' }, 'k2'),
      recordId({ functionName: 'a', name: '', scope: 's\u0000' }, 'k'),
      recordId({ functionName: 'a', name: '', scope: 's' }, '\u0000k'),
      recordId({ functionName: 'a","', name: '', scope: '' }, 'k'),
    ])
    expect(ids.size).toBe(8)
  })
})

// Shrunk counterexample of the canonical JSON property (test/property/key.test.ts): a `__proto__`
// key was dropped, so `{"__proto__":""}` and `{}` had one fingerprint.
describe('canonicalJson and __proto__', () => {
  it('keeps a __proto__ key of parsed JSON as data, so it never collides with an object without it', () => {
    const parsed = JSON.parse('{"a":{"__proto__":""}}')
    expect(canonicalJson(parsed)).toBe('{"a":{"__proto__":""}}')
    expect(hashValue(parsed)).not.toBe(hashValue({ a: {} }))
  })
})
