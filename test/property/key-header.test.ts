import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type HttpRequest, readKeyHeader } from '../../src/http.js'
import { IdempotencyKeyInvalidError } from '../../src/index.js'

// RFC 8941, section 3.3.3 and 3.3.4:
//   sf-string = DQUOTE *chr DQUOTE ; chr = unescaped / escaped
//   unescaped = %x20-21 / %x23-5B / %x5D-7E ; escaped = "\" ( DQUOTE / "\" )
//   sf-token  = ( ALPHA / "*" ) *( tchar / ":" / "/" )
const printable = Array.from({ length: 0x7e - 0x20 + 1 }, (_, i) => String.fromCharCode(0x20 + i))
const chr = fc.constantFrom(...printable)
const alpha = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ')
const tchar = fc.constantFrom(
  ..."!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
)

/** Serializes a string as an RFC 8941 sf-string. */
const sfString = (value: string) => `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`

const sfToken = fc
  .tuple(
    fc.oneof(alpha, fc.constant('*')),
    fc.string({ unit: fc.oneof(tchar, fc.constantFrom(':', '/')), maxLength: 254 }),
  )
  .map(([first, rest]) => first + rest)

const request = (headers: Record<string, string>): HttpRequest => ({
  shape: 'http',
  method: 'POST',
  path: '/payments',
  headers,
  multiValueHeaders: undefined,
  query: [],
  body: undefined,
  isBase64Encoded: false,
  requestContext: {},
})

// Any casing of the header name: header names are case-insensitive.
const headerName = fc
  .array(fc.boolean(), { minLength: 15, maxLength: 15 })
  .map((upper) => [...'idempotency-key'].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(''))

const read = (name: string, value: string) => readKeyHeader(request({ [name]: value }), 'Idempotency-Key')

/** The key the header gives, or the error it is refused with. */
const attempt = (name: string, value: string): { key: string | undefined } | { error: unknown } => {
  try {
    return { key: read(name, value) }
  } catch (error) {
    return { error }
  }
}

describe('the Idempotency-Key header parser', () => {
  it('reads every sf-string back to its content when that content is 1 to 255 characters without spaces', () => {
    fc.assert(
      fc.property(headerName, fc.string({ unit: chr, maxLength: 300 }), (name, content) => {
        const outcome = attempt(name, sfString(content))
        if (content.length >= 1 && content.length <= 255 && !content.includes(' ')) {
          expect(outcome).toEqual({ key: content })
        } else {
          expect('error' in outcome && outcome.error).toBeInstanceOf(IdempotencyKeyInvalidError)
        }
      }),
    )
  })

  it('reads every sf-token as itself, as Stripe clients send keys', () => {
    fc.assert(
      fc.property(headerName, sfToken, (name, token) => {
        expect(read(name, token)).toBe(token)
      }),
    )
  })

  it('ignores the whitespace around a value', () => {
    fc.assert(
      fc.property(
        sfToken,
        fc.constantFrom('', ' ', '\t', '  '),
        fc.constantFrom('', ' ', '\t'),
        (token, before, after) => {
          expect(read('idempotency-key', `${before}${token}${after}`)).toBe(token)
          expect(read('idempotency-key', `${before}${sfString(token)}${after}`)).toBe(token)
        },
      ),
    )
  })

  it('refuses a quoted string that is unterminated, badly escaped or followed by more characters', () => {
    const broken = fc.oneof(
      fc.string({ unit: chr }).map((s) => `"${s.replaceAll('"', '')}`.replace(/\\$/, '')),
      fc
        .tuple(fc.string({ unit: chr }), fc.constantFrom(...'abnt0 '))
        .map(([s, c]) => `"${s.replaceAll(/["\\]/g, '')}\\${c}"`),
      fc
        .tuple(sfToken, fc.string({ unit: chr, minLength: 1 }))
        .map(([s, tail]) => `${sfString(s)}${tail.trim() || 'x'}`),
    )
    fc.assert(
      fc.property(broken, (value) => {
        expect(() => read('Idempotency-Key', value)).toThrow(IdempotencyKeyInvalidError)
      }),
    )
  })

  it('answers any header value with 1 to 255 visible ASCII characters or an IdempotencyKeyInvalidError, nothing else', () => {
    fc.assert(
      fc.property(
        headerName,
        fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ unit: chr })),
        (name, value) => {
          const outcome = attempt(name, value)
          if ('key' in outcome) {
            expect(outcome.key).toMatch(/^[\x21-\x7e]{1,255}$/)
          } else {
            expect(outcome.error).toBeInstanceOf(IdempotencyKeyInvalidError)
          }
        },
      ),
    )
  })
})
