import {
  ConditionalCheckFailedException,
  GetItemCommand,
  PutItemCommand,
  TransactWriteItemsCommand,
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

  it('claims again when the failed put returns no item and the record is gone by the time it is read', async () => {
    const conditionFailed = new ConditionalCheckFailedException({
      message: 'The conditional request failed',
      $metadata: {},
    })
    dynamo.on(PutItemCommand).rejectsOnce(conditionFailed).resolves({})
    dynamo.on(GetItemCommand).resolves({})
    dynamo.on(UpdateItemCommand).resolves({})
    const { handler, charges } = chargeOnce()
    await expect(handler({ id: 'p-5' }, lambdaContext())).resolves.toEqual({ charged: 'p-5' })
    expect(charges).toEqual(['p-5'])
    expect(dynamo.commandCalls(PutItemCommand)).toHaveLength(2)
  })
})

describe('DynamoDBStore.transactWrite at the SDK boundary', () => {
  const completion = { id: 'r', owner: 'o', result: '1', expiresAtSeconds: 60 }

  it('refuses a client without send(), naming it', async () => {
    await expect(store.transactWrite({ region: 'x' }, [], completion)).rejects.toThrow(
      /option "client" must be a DynamoDBClient or DynamoDBDocumentClient, got \{"region":"x"\}/,
    )
    expect(dynamo.calls()).toHaveLength(0)
  })

  it('passes a failure other than a cancelled transaction on unchanged', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' })
    dynamo.on(TransactWriteItemsCommand).rejects(throttled)
    await expect(store.transactWrite(client, [], completion)).rejects.toBe(throttled)
  })

  it('sends items it cannot read a key from in the low-level form, for DynamoDB to judge', async () => {
    dynamo.on(TransactWriteItemsCommand).resolves({})
    const odd = [undefined, {}, { ConditionCheck: { TableName: 't' } }, { Put: { TableName: 't', Item: {} } }]
    await expect(store.transactWrite(client, odd, completion)).resolves.toBe(true)
    const [call] = dynamo.commandCalls(TransactWriteItemsCommand)
    expect(call?.args[0].input.TransactItems).toHaveLength(5)
    expect(call?.args[0].input.TransactItems?.[4]).toMatchObject({
      Update: { Key: { id: { S: 'r' } }, ExpressionAttributeValues: { ':owner': { S: 'o' } } },
    })
  })
})
