import {
  DeleteItemCommand,
  InternalServerError,
  ProvisionedThroughputExceededException,
  PutItemCommand,
  ThrottlingException,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb'
import middy from '@middy/core'
import { beforeEach, describe, expect, it } from 'vitest'
import { IdempotencyStoreError, idempotent } from '../../src/index.js'
import { loadEvent } from '../helpers/events.js'
import { lambdaContext, recordingLogger } from '../helpers/lambda.js'
import { mockedDynamoDBStore } from '../helpers/mock-dynamodb.js'

// The failure-modes table of the README, step by step and fault by fault.
const { dynamo, store } = mockedDynamoDBStore()
const SECRET_KEY = 'card-4242-4242-4242-4242'
const SECRET_BODY = 'jane.doe@example.com'

const faults: [string, () => Error][] = [
  [
    'throttling (ProvisionedThroughputExceededException)',
    () => new ProvisionedThroughputExceededException({ message: 'Throughput exceeded', $metadata: {} }),
  ],
  [
    'throttling (ThrottlingException)',
    () => new ThrottlingException({ message: 'Rate exceeded', $metadata: {} }),
  ],
  [
    'a timeout',
    () => Object.assign(new Error('Connection timed out after 1000 ms'), { name: 'TimeoutError' }),
  ],
  [
    'a 500',
    () => new InternalServerError({ message: 'Internal server error', $metadata: { httpStatusCode: 500 } }),
  ],
  ['a connection reset', () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' })],
]

const paymentHandler = (work: () => unknown) => {
  const logger = recordingLogger()
  let runs = 0
  const handler = middy(async () => {
    runs++
    return work()
  }).use(idempotent({ store, key: (event: { key: string }) => event.key, logger }))
  return { handler, logger, runs: () => runs }
}

beforeEach(() => {
  dynamo.reset()
})

describe.each(faults)('%s', (_fault, fault) => {
  it('at the claim: the work never runs and the caller gets a 503 IdempotencyStoreError', async () => {
    const cause = fault()
    dynamo.on(PutItemCommand).rejects(cause)
    const { handler, runs, logger } = paymentHandler(() => 'charged')
    const error = await handler({ key: SECRET_KEY, note: SECRET_BODY } as never, lambdaContext()).catch(
      (e) => e,
    )
    expect(error).toBeInstanceOf(IdempotencyStoreError)
    expect(error).toMatchObject({ statusCode: 503, code: 'IDEMPOTENCY_STORE_UNAVAILABLE', cause })
    expect((error as Error).message).toContain(`failed to claim: ${cause.name}: ${cause.message}`)
    expect(runs()).toBe(0)
    expect(JSON.stringify(logger.lines)).not.toContain(SECRET_KEY)
  })

  it('at the claim of an HTTP request: a 503 problem with Retry-After', async () => {
    dynamo.on(PutItemCommand).rejects(fault())
    let runs = 0
    const handler = middy(async () => {
      runs++
      return { statusCode: 201, body: '{}' }
    }).use(idempotent({ store, logger: false }))
    const answer = (await handler(
      loadEvent('http-v2-post-payment.json') as never,
      lambdaContext(),
    )) as unknown as {
      statusCode: number
      headers: Record<string, string>
    }
    expect(answer.statusCode).toBe(503)
    expect(answer.headers['Retry-After']).toBe('1')
    expect(runs).toBe(0)
  })

  it('at the completion: retried once, then the caller still gets the result and the claim stays until its lease ends', async () => {
    dynamo.on(PutItemCommand).resolves({})
    dynamo.on(UpdateItemCommand).rejects(fault())
    const { handler, runs, logger } = paymentHandler(() => ({ charged: true }))
    await expect(handler({ key: SECRET_KEY } as never, lambdaContext())).resolves.toEqual({ charged: true })
    expect(runs()).toBe(1)
    expect(dynamo.commandCalls(UpdateItemCommand)).toHaveLength(2)
    expect(dynamo.commandCalls(DeleteItemCommand)).toHaveLength(0)
    expect(logger.lines.map((line) => line.details?.outcome)).toEqual(['complete-failed'])
    expect(JSON.stringify(logger.lines)).not.toContain(SECRET_KEY)
  })

  it('at the release: the original error reaches the caller and the failed release is logged', async () => {
    dynamo.on(PutItemCommand).resolves({})
    dynamo.on(DeleteItemCommand).rejects(fault())
    const failure = new Error('card declined')
    const { handler, logger } = paymentHandler(() => {
      throw failure
    })
    await expect(handler({ key: SECRET_KEY } as never, lambdaContext())).rejects.toBe(failure)
    expect(logger.lines.map((line) => line.details?.outcome)).toEqual(['release-failed'])
    expect(JSON.stringify(logger.lines)).not.toContain(SECRET_KEY)
  })
})

it('completes on the second attempt when the first completion fails once', async () => {
  dynamo.on(PutItemCommand).resolves({})
  dynamo
    .on(UpdateItemCommand)
    .rejectsOnce(new ThrottlingException({ message: 'Rate exceeded', $metadata: {} }))
    .resolves({})
  const { handler, logger } = paymentHandler(() => 'charged')
  await expect(handler({ key: 'k' } as never, lambdaContext())).resolves.toBe('charged')
  expect(dynamo.commandCalls(UpdateItemCommand)).toHaveLength(2)
  expect(logger.lines).toEqual([])
})
