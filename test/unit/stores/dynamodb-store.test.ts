import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb'
import middy from '@middy/core'
import { beforeEach, describe, expect, it } from 'vitest'
import { DynamoDBStore, hashValue, IdempotencyConfigError, idempotent } from '../../../src/index.js'
import { lambdaContext, recordingLogger } from '../../helpers/lambda.js'
import { mockedDynamoDBStore } from '../../helpers/mock-dynamodb.js'

// Faults at claim, complete and release: test/unit/faults.test.ts.
const { client, dynamo, store } = mockedDynamoDBStore()

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
