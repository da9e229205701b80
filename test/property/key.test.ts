import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { canonicalJson, hashValue, recordId } from '../../src/index.js'

// JSON data as a client sends it: what JSON.parse gives (no undefined, no NaN, and no -0, which
// JSON.parse reads from "-0" but every serializer writes as 0).
const json = fc.jsonValue().map((value) => JSON.parse(JSON.stringify(value)) as unknown)

/** The same value with every object's keys in another order. */
const reordered = (value: unknown, order: number[]): unknown => {
  if (Array.isArray(value)) return value.map((item) => reordered(item, order))
  if (typeof value !== 'object' || value === null) return value
  const entries = Object.entries(value)
  const rotated = entries.map((_, i) => entries[(i + (order[i % order.length] ?? 0)) % entries.length]) as [
    string,
    unknown,
  ][]
  const seen = new Set<string>()
  const result: [string, unknown][] = []
  for (const [key, item] of [...rotated, ...entries]) {
    if (seen.has(key)) continue
    seen.add(key)
    result.push([key, reordered(item, order)])
  }
  // fromEntries defines own properties: an assignment of "__proto__" would set the prototype instead.
  return Object.fromEntries(result)
}

describe('canonical JSON and hashValue', () => {
  it('gives equal JSON the same hash whatever its key order and whitespace', () => {
    fc.assert(
      fc.property(
        json,
        fc.array(fc.nat(20), { minLength: 1, maxLength: 5 }),
        fc.nat(4),
        (value, order, indent) => {
          const reformatted = JSON.parse(JSON.stringify(reordered(value, order), null, indent))
          expect(canonicalJson(reformatted)).toBe(canonicalJson(value))
          expect(hashValue(reformatted)).toBe(hashValue(value))
        },
      ),
    )
  })

  // Shrunk counterexample (seed 209163817): a nested "__proto__" key is data and survives reordering.
  it('keeps a nested "__proto__" key as data when the keys are reordered', () => {
    const value = JSON.parse('{"":{"__proto__":""}}')
    const reformatted = JSON.parse(JSON.stringify(reordered(value, [0]), null, 3))
    expect(canonicalJson(reformatted)).toBe('{"":{"__proto__":""}}')
    expect(hashValue(reformatted)).toBe(hashValue(value))
  })

  it('reads back as the value it was made from', () => {
    fc.assert(
      fc.property(json, (value) => {
        expect(JSON.parse(canonicalJson(value))).toStrictEqual(value)
      }),
    )
  })

  it('gives different JSON different hashes', () => {
    fc.assert(
      fc.property(json, json, (a, b) => {
        fc.pre(!isDeepStrictEqual(a, b))
        expect(hashValue(a)).not.toBe(hashValue(b))
      }),
    )
  })

  it('gives every distinct value of a generated set its own hash', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(json, { selector: (value) => canonicalJson(value), maxLength: 50 }),
        (values) => {
          expect(new Set(values.map(hashValue)).size).toBe(values.length)
        },
      ),
    )
  })
})

describe('recordId', () => {
  // Separators, quotes and escapes: what could fake a boundary between the parts if they were joined.
  const part = fc.string({
    unit: fc.constantFrom('a', ':', '/', '"', '\\', ',', '[', ']', ' ', '\u0000', 'é'),
  })
  const namespaced = fc.record({ functionName: part, name: part, scope: part, key: part })

  it('never gives two different namespaces or keys the same id', () => {
    fc.assert(
      fc.property(namespaced, namespaced, (a, b) => {
        fc.pre(!isDeepStrictEqual(a, b))
        expect(recordId(a, a.key)).not.toBe(recordId(b, b.key))
      }),
      { numRuns: 2_000 },
    )
  })

  it('gives the same namespace and key the same 64-character hex id', () => {
    fc.assert(
      fc.property(namespaced, (a) => {
        expect(recordId({ ...a }, a.key)).toBe(recordId(a, a.key))
        expect(recordId(a, a.key)).toMatch(/^[0-9a-f]{64}$/)
      }),
    )
  })
})
