import {
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  ThrottlingException,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb'
import middy from '@middy/core'
import { mockClient } from 'aws-sdk-client-mock'
import { beforeEach, describe, expect, it } from 'vitest'
import {
  DynamoDBStore,
  hashValue,
  IdempotencyConfigError,
  IdempotencyStoreError,
  idempotent,
} from '../../src/index.js'
import { lambdaContext, recordingLogger } from '../helpers/lambda.js'

const client = new DynamoDBClient({
  region: 'us-east-1',
  credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
})
const dynamo = mockClient(client)
const store = new DynamoDBStore({ client, tableName: 'idempotency' })
const throttled = () => new ThrottlingException({ message: 'Rate exceeded', $metadata: {} })

beforeEach(() => {
  dynamo.reset()
})

const chargeOnce = (logger = recordingLogger()) => {
  const charges: string[] = []
  const handler = middy(async (event: { id: string }) => {
    charges.push(event.id)
    return { charged: event.id }
  }).use(idempotent({ store, key: (event: { id: string }) => event.id, logger }))
  return { handler, charges, logger }
}

describe('DynamoDBStore at the SDK boundary', () => {
  it('refuses a missing client or table name when it is built', () => {
    expect(() => new DynamoDBStore({ client: undefined as never, tableName: 't' })).toThrow(
      IdempotencyConfigError,
    )
    expect(() => new DynamoDBStore({ client, tableName: '' })).toThrow(
      /option "tableName" must be a non-empty string/,
    )
    expect(() => new DynamoDBStore({ client, tableName: 't', attributeNames: { id: '' } })).toThrow(
      /option "attributeNames.id" must be a non-empty string, got ""/,
    )
  })

  it('answers a failed claim with a 503 IdempotencyStoreError carrying the SDK error, and never runs the work', async () => {
    const cause = throttled()
    dynamo.on(PutItemCommand).rejects(cause)
    const { handler, charges } = chargeOnce()
    const error = await handler({ id: 'p-1' }, lambdaContext()).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(IdempotencyStoreError)
    expect(error).toMatchObject({ statusCode: 503, code: 'IDEMPOTENCY_STORE_UNAVAILABLE', cause })
    expect((error as Error).message).toMatch(/failed to claim: ThrottlingException: Rate exceeded/)
    expect(charges).toEqual([])
  })

  it('retries a failed completion, then returns the result and logs when it still fails', async () => {
    dynamo.on(PutItemCommand).resolves({})
    dynamo.on(UpdateItemCommand).rejects(throttled())
    const { handler, charges, logger } = chargeOnce()
    await expect(handler({ id: 'p-2' }, lambdaContext())).resolves.toEqual({ charged: 'p-2' })
    expect(charges).toEqual(['p-2'])
    expect(dynamo.commandCalls(UpdateItemCommand)).toHaveLength(2)
    expect(dynamo.commandCalls(DeleteItemCommand)).toHaveLength(0) // the record stays protected
    expect(logger.lines).toEqual([
      expect.objectContaining({ details: expect.objectContaining({ outcome: 'complete-failed' }) }),
    ])
  })

  it('passes the original error on when the release fails, and logs the failed release', async () => {
    dynamo.on(PutItemCommand).resolves({})
    dynamo.on(DeleteItemCommand).rejects(throttled())
    const logger = recordingLogger()
    const failure = new Error('card declined')
    const handler = middy(async () => {
      throw failure
    }).use(idempotent({ store, key: () => 'p-3', logger }))
    await expect(handler({}, lambdaContext())).rejects.toBe(failure)
    expect(logger.lines).toEqual([
      expect.objectContaining({ details: expect.objectContaining({ outcome: 'release-failed' }) }),
    ])
  })

  it('reads the record with a consistent GetItem when the failed put does not return it', async () => {
    dynamo
      .on(PutItemCommand)
      .rejects(
        new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} }),
      )
    dynamo.on(GetItemCommand).resolves({
      Item: {
        id: { S: 'x' },
        status: { S: 'COMPLETED' },
        owner: { S: 'o' },
        fingerprint: { S: hashValue({ id: 'p-4' }) },
        expiration: { N: String(Math.floor(Date.now() / 1000) + 60) },
        result: { S: '{"charged":"from-get"}' },
      },
    })
    const { handler, charges } = chargeOnce()
    await expect(handler({ id: 'p-4' }, lambdaContext())).resolves.toEqual({ charged: 'from-get' })
    expect(charges).toEqual([])
    expect(dynamo.commandCalls(GetItemCommand)[0]?.args[0].input).toMatchObject({ ConsistentRead: true })
  })

  it('claims with one conditional put that asks for the old item on failure', async () => {
    dynamo.on(PutItemCommand).resolves({})
    dynamo.on(UpdateItemCommand).resolves({})
    await chargeOnce().handler({ id: 'p-5' }, lambdaContext())
    const [put] = dynamo.commandCalls(PutItemCommand)
    expect(put?.args[0].input).toMatchObject({
      TableName: 'idempotency',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      ConditionExpression: expect.stringContaining('attribute_not_exists'),
      Item: { status: { S: 'IN_PROGRESS' }, expiration: { N: expect.any(String) } },
    })
  })
})
