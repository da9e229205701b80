import middy from '@middy/core'
import httpErrorHandler from '@middy/http-error-handler'
import { describe, expect, it } from 'vitest'
import {
  IdempotencyAbandonedError,
  IdempotencyConfigError,
  IdempotencyError,
  IdempotencyInProgressError,
  IdempotencyKeyInvalidError,
  IdempotencyKeyReusedError,
  IdempotencyResultError,
  IdempotencyStoreError,
} from '../../src/index.js'

const errors: [string, IdempotencyError, string, number, boolean][] = [
  [
    'IdempotencyKeyInvalidError',
    new IdempotencyKeyInvalidError('IDEMPOTENCY_KEY_MISSING', 'no key'),
    'IDEMPOTENCY_KEY_MISSING',
    400,
    true,
  ],
  ['IdempotencyInProgressError', new IdempotencyInProgressError(3), 'IDEMPOTENCY_IN_PROGRESS', 409, true],
  ['IdempotencyAbandonedError', new IdempotencyAbandonedError('abc'), 'IDEMPOTENCY_ABANDONED', 409, true],
  ['IdempotencyKeyReusedError', new IdempotencyKeyReusedError(), 'IDEMPOTENCY_KEY_REUSED', 422, true],
  [
    'IdempotencyStoreError',
    new IdempotencyStoreError('claim', new Error('x')),
    'IDEMPOTENCY_STORE_UNAVAILABLE',
    503,
    false,
  ],
  [
    'IdempotencyResultError',
    new IdempotencyResultError('too big'),
    'IDEMPOTENCY_RESULT_NOT_STORED',
    500,
    false,
  ],
  [
    'IdempotencyConfigError',
    new IdempotencyConfigError('ttlSeconds', 'a positive integer', 0),
    'IDEMPOTENCY_INVALID_OPTION',
    500,
    false,
  ],
]

describe('errors', () => {
  it.each(errors)(
    '%s carries its name, code, status and exposure',
    (name, error, code, statusCode, expose) => {
      expect(error).toBeInstanceOf(IdempotencyError)
      expect(error).toBeInstanceOf(Error)
      expect(error).toMatchObject({ name, code, statusCode, expose })
      expect(String(error)).toMatch(new RegExp(`^${name}: `))
    },
  )

  it('keeps the wrapped SDK error as cause', () => {
    const cause = new Error('Rate exceeded')
    expect(new IdempotencyStoreError('complete', cause).cause).toBe(cause)
  })

  it.each(errors)(
    '%s is answered by @middy/http-error-handler with its status',
    async (_name, error, _code, statusCode, expose) => {
      const handler = middy(async () => {
        throw error
      }).use(httpErrorHandler({ logger: false }))
      const response = (await handler({}, {} as never)) as { statusCode: number; body?: string }
      expect(response.statusCode).toBe(expose ? statusCode : 500)
      if (expose) expect(response.body).toBe(error.message)
    },
  )
})
