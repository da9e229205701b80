import { describe, expect, it } from 'vitest'
import { IdempotencyResultError } from '../../src/index.js'
import { decodeResult, encodeNotStored, encodeResult } from '../../src/result-codec.js'

const roundTrip = (value: unknown) => decodeResult(encodeResult(value))

describe('result encoding', () => {
  it('stores plain JSON as plain JSON', () => {
    expect(encodeResult({ statusCode: 201, body: '{"id":1}' })).toBe(
      '{"statusCode":201,"body":"{\\"id\\":1}"}',
    )
  })

  it.each([
    ['top-level undefined', undefined],
    ['nested undefined', { a: undefined, list: [undefined, 1] }],
    ['dates', { at: new Date('2026-01-02T03:04:05.678Z'), invalid: new Date(Number.NaN) }],
    ['non-finite numbers', [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -1.5]],
    ['data that looks like a tag', { '\u0000u': 1, '\u0000d': '2026', nested: { '\u0000x': 'marker' } }],
    ['strings holding NUL characters', { text: 'a\u0000b' }],
    ['an own __proto__ key', JSON.parse('{"__proto__":{"polluted":true}}')],
  ])('replays %s exactly', (_name, value) => {
    expect(roundTrip(value)).toStrictEqual(value)
  })

  it('follows toJSON like JSON.stringify does', () => {
    const money = { toJSON: () => '100.00 EUR' }
    expect(roundTrip({ money })).toStrictEqual({ money: '100.00 EUR' })
  })

  it.each([
    ['a bigint', { total: 1n }, /bigint cannot be stored/],
    ['a function', { fn: () => 1 }, /function cannot be stored/],
    ['a symbol', { s: Symbol('x') }, /symbol cannot be stored/],
    ['a Map', new Map(), /Map cannot be stored/],
    ['a Set', { s: new Set([1]) }, /Set cannot be stored/],
  ])('refuses %s with an IdempotencyResultError', (_name, value, message) => {
    expect(() => encodeResult(value)).toThrow(IdempotencyResultError)
    expect(() => encodeResult(value)).toThrow(message)
  })

  it('turns the "not stored" marker back into the error on every replay', () => {
    const stored = encodeNotStored('the result is not JSON-compatible')
    expect(() => decodeResult(stored)).toThrow(IdempotencyResultError)
    expect(() => decodeResult(stored)).toThrow(
      /not JSON-compatible \(on the first call; the work was not run again\)/,
    )
  })
})
