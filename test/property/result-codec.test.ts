import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { IdempotencyResultError, MemoryStore, makeIdempotent } from '../../src/index.js'
import { decodeResult, encodeResult, packResult, unpackResult } from '../../src/result-codec.js'

// What the codec promises to replay faithfully: JSON plus undefined, Dates (valid or not), NaN and
// the infinities, and keys that start with the NUL character its own tags use.
const key = fc.oneof(
  fc.string(),
  fc.string().map((s) => `\u0000${s}`),
  fc.constantFrom('\u0000u', '\u0000d', '\u0000x'),
)
const leaf = fc.oneof(
  fc.string(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  // -0 is left out: JSON has no negative zero, and a replay gives 0.
  fc.double().filter((n) => !Object.is(n, -0)),
  fc.integer(),
  fc.date(),
  fc.constant(new Date(Number.NaN)),
)
const { value: encodable } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc.dictionary(key, tie('value'), { maxKeys: 4, noNullPrototype: true }),
}))

const roundTrip = (value: unknown, threshold: number) =>
  decodeResult(unpackResult(packResult(encodeResult(value), threshold)))

describe('the result codec', () => {
  it('replays every encodable value as it was, compressed or not', () => {
    fc.assert(
      fc.property(encodable, fc.constantFrom(0, 16_384), (value, threshold) => {
        expect(roundTrip(value, threshold)).toStrictEqual(value)
      }),
    )
  })

  const unencodable = fc.constantFrom<[string, () => unknown]>(
    ['a function', () => () => 1],
    ['a symbol', () => Symbol('s')],
    ['a bigint', () => 10n ** 20n],
    ['a Map', () => new Map([[1, 2]])],
    ['a Set', () => new Set([1])],
    [
      'a cycle',
      () => {
        const cycle: Record<string, unknown> = {}
        cycle.self = cycle
        return cycle
      },
    ],
  )
  // Puts the value somewhere inside a generated encodable one.
  const hidden = fc
    .tuple(encodable, unencodable, fc.constantFrom('top', 'array', 'object', 'deep'))
    .map(([around, [what, make], where]) => {
      const bad = make()
      const value =
        where === 'top'
          ? bad
          : where === 'array'
            ? [around, bad]
            : where === 'object'
              ? { around, bad }
              : { a: [{ b: bad }], around }
      return { what, value }
    })

  it('refuses every value it cannot replay, wherever it is, with an IdempotencyResultError', () => {
    fc.assert(
      fc.property(hidden, ({ value }) => {
        expect(() => encodeResult(value)).toThrow(IdempotencyResultError)
      }),
    )
  })

  it('stores no result for an unencodable value: the call answers with it, every replay fails, and the work never runs again', async () => {
    await fc.assert(
      fc.asyncProperty(hidden, async ({ value }) => {
        const store = new MemoryStore()
        let runs = 0
        const work = makeIdempotent(
          async (_input: { id: string }) => {
            runs++
            return value
          },
          { store, name: 'unencodable', key: (input) => input.id, logger: false },
        )
        expect(await work({ id: 'k' })).toBe(value)
        await expect(work({ id: 'k' })).rejects.toBeInstanceOf(IdempotencyResultError)
        expect(runs).toBe(1)
        const [record] = store.records()
        expect(record?.status).toBe('COMPLETED')
        expect(() => decodeResult(record?.result ?? '')).toThrow(IdempotencyResultError)
      }),
      { numRuns: 50 },
    )
  })
})
