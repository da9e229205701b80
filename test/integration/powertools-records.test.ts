import { randomUUID } from 'node:crypto'
import {
  IdempotencyAlreadyInProgressError,
  IdempotencyConfig,
  makeIdempotent as powertoolsIdempotent,
} from '@aws-lambda-powertools/idempotency'
import { DynamoDBPersistenceLayer } from '@aws-lambda-powertools/idempotency/dynamodb'
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { afterAll, describe, expect, inject, it } from 'vitest'
import { localClientConfig } from '../../infra/local/dynamodb-local.js'
import {
  DynamoDBStore,
  IdempotencyInProgressError,
  type IdempotencyStore,
  makeIdempotent,
  PowertoolsDynamoDBStore,
} from '../../src/index.js'
import { captureConsole } from '../helpers/captured-output.js'
import { createIdempotencyTable, scanTable } from '../helpers/dynamodb.js'
import { delay, gate, lambdaContext, until } from '../helpers/lambda.js'

// Records are written by @aws-lambda-powertools/idempotency itself, then read by our store.
const FUNCTION = 'payments-charge'
process.env.AWS_LAMBDA_FUNCTION_NAME = FUNCTION

const client = new DynamoDBClient(localClientConfig(inject('dynamoEndpoint')))
const powertoolsClient = new DynamoDBClient(localClientConfig(inject('dynamoEndpoint')))
afterAll(() => {
  client.destroy()
  powertoolsClient.destroy()
})

type Payment = { paymentId: string; amount: number }
const context = (remainingMs = 60_000) => lambdaContext({ functionName: FUNCTION, remainingMs })

/** A charge made idempotent by Powertools, as the function ran before the switch. */
const powertoolsCharge = (
  tableName: string,
  work: (payment: Payment) => Promise<unknown>,
  names: { keyAttr?: string; sortKeyAttr?: string } = {},
) =>
  powertoolsIdempotent(async (payment: Payment, _context: unknown) => work(payment), {
    persistenceStore: new DynamoDBPersistenceLayer({ tableName, awsSdkV3Client: powertoolsClient, ...names }),
    config: new IdempotencyConfig({ eventKeyJmesPath: 'paymentId' }),
  })

/** The same charge after the switch, on our store. */
/** Waits until the in-flight call has written its claim, however slow the machine is today. */
const claimWritten = (tableName: string) => until(async () => (await scanTable(client, tableName)).length > 0)

const ourCharge = (store: IdempotencyStore) => {
  const runs: Payment[] = []
  const charge = makeIdempotent(
    async (payment: Payment, _context?: unknown) => {
      runs.push(payment)
      return { chargeId: 'ours', amount: payment.amount }
    },
    { store, key: (payment) => payment.paymentId, logger: false },
  )
  return { charge, runs }
}

describe('PowertoolsDynamoDBStore on records that Powertools wrote', () => {
  it('replays a completed Powertools record instead of running the work again', async () => {
    const tableName = await createIdempotencyTable(client)
    const legacyCharge = powertoolsCharge(tableName, async (payment) => ({
      chargeId: 'pt_1',
      amount: payment.amount,
    }))
    await legacyCharge({ paymentId: 'p-1', amount: 100 }, context())

    const { charge, runs } = ourCharge(new PowertoolsDynamoDBStore({ client, tableName }))
    expect(await charge({ paymentId: 'p-1', amount: 100 }, context())).toEqual({
      chargeId: 'pt_1',
      amount: 100,
    })
    expect(runs).toHaveLength(0)
    // A new key runs, and is stored as a Powertools record of the same shape.
    await charge({ paymentId: 'p-2', amount: 5 }, context())
    expect(runs).toHaveLength(1)
    const items = await scanTable(client, tableName)
    expect(items.map((item) => item.id?.S).every((id) => id?.startsWith(`${FUNCTION}#`))).toBe(true)
    expect(items.map((item) => item.status?.S).sort()).toEqual(['COMPLETED', 'COMPLETED'])
  })

  it('the unprotected variant: DynamoDBStore in its own format runs a Powertools-completed payment again', async () => {
    const tableName = await createIdempotencyTable(client)
    const legacyCharge = powertoolsCharge(tableName, async (payment) => ({
      chargeId: 'pt_1',
      amount: payment.amount,
    }))
    await legacyCharge({ paymentId: 'p-1', amount: 100 }, context())
    const { charge, runs } = ourCharge(new DynamoDBStore({ client, tableName }))
    await charge({ paymentId: 'p-1', amount: 100 }, context())
    expect(runs).toHaveLength(1)
  })

  it('answers 409 while a Powertools invocation is in progress, then replays its result', async () => {
    const tableName = await createIdempotencyTable(client)
    const running = gate()
    const legacyCharge = powertoolsCharge(tableName, async (payment) => {
      await running.opened
      return { chargeId: 'pt_slow', amount: payment.amount }
    })
    const inFlight = legacyCharge({ paymentId: 'p-1', amount: 7 }, context())
    await claimWritten(tableName) // Powertools has written its INPROGRESS record

    const { charge, runs } = ourCharge(new PowertoolsDynamoDBStore({ client, tableName }))
    await expect(charge({ paymentId: 'p-1', amount: 7 }, context())).rejects.toBeInstanceOf(
      IdempotencyInProgressError,
    )
    running.open()
    await inFlight
    expect(await charge({ paymentId: 'p-1', amount: 7 }, context())).toEqual({
      chargeId: 'pt_slow',
      amount: 7,
    })
    expect(runs).toHaveLength(0)
  })

  it('keeps a Powertools claim without in_progress_expiration blocked, as Powertools does', async () => {
    const tableName = await createIdempotencyTable(client)
    const running = gate()
    // Called without a Lambda context, Powertools writes no in_progress_expiration.
    const legacyCharge = powertoolsIdempotent(
      async (payment: Payment) => {
        await running.opened
        return payment.amount
      },
      {
        persistenceStore: new DynamoDBPersistenceLayer({ tableName, awsSdkV3Client: powertoolsClient }),
        config: new IdempotencyConfig({ eventKeyJmesPath: 'paymentId' }),
      },
    )
    const warned = captureConsole('warn')
    const inFlight = legacyCharge({ paymentId: 'p-1', amount: 7 })
    await claimWritten(tableName)
    warned.restore()
    // Powertools warns that, without a context, it cannot bound the claim.
    expect(warned.lines).toContain(
      'Could not determine remaining time left. Did you call registerLambdaContext on IdempotencyConfig?',
    )
    const [item] = await scanTable(client, tableName)
    expect(item).not.toHaveProperty('in_progress_expiration')

    // Outside Lambda there is no context to name the function: keyPrefix does.
    const store = new PowertoolsDynamoDBStore({ client, tableName, keyPrefix: FUNCTION })
    const { charge, runs } = ourCharge(store)
    await expect(charge({ paymentId: 'p-1', amount: 7 })).rejects.toBeInstanceOf(IdempotencyInProgressError)
    expect(runs).toHaveLength(0)
    const record = await store.get(item?.id?.S ?? '')
    expect(record).toMatchObject({
      status: 'IN_PROGRESS',
      leaseExpiresAtMs: (record?.expiresAtSeconds ?? 0) * 1000,
    })
    running.open()
    await inFlight
  })

  it('takes over a Powertools claim whose in_progress_expiration has passed, as Powertools would', async () => {
    const tableName = await createIdempotencyTable(client)
    const never = gate()
    const legacyCharge = powertoolsCharge(tableName, async () => never.opened)
    void legacyCharge({ paymentId: 'p-1', amount: 3 }, context(1))
    await claimWritten(tableName) // with 1 ms left, its in_progress_expiration has passed by then
    const { charge, runs } = ourCharge(new PowertoolsDynamoDBStore({ client, tableName }))
    expect(await charge({ paymentId: 'p-1', amount: 3 }, context())).toEqual({ chargeId: 'ours', amount: 3 })
    expect(runs).toHaveLength(1)
  })

  it('runs the work once when Powertools and this store race for the same key during a deploy', async () => {
    const tableName = await createIdempotencyTable(client)
    let powertoolsRuns = 0
    const legacyCharge = powertoolsCharge(tableName, async (payment) => {
      powertoolsRuns++
      await delay(100)
      return { chargeId: 'pt', amount: payment.amount }
    })
    const { charge, runs } = ourCharge(new PowertoolsDynamoDBStore({ client, tableName }))
    const payment = { paymentId: 'p-race', amount: 9 }
    const outcomes = await Promise.allSettled([
      ...Array.from({ length: 10 }, () => legacyCharge(payment, context())),
      ...Array.from({ length: 10 }, () => charge(payment, context())),
    ])
    expect(powertoolsRuns + runs.length).toBe(1)
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') {
        expect(outcome.reason).toSatisfy(
          (error) =>
            error instanceof IdempotencyInProgressError || error instanceof IdempotencyAlreadyInProgressError,
        )
      }
    }
  })

  it('is read by Powertools too: a rollback sees an in-flight claim of ours as in progress', async () => {
    const tableName = await createIdempotencyTable(client)
    const running = gate()
    const charge = makeIdempotent(
      async (payment: Payment, _context?: unknown) => {
        await running.opened
        return payment.amount
      },
      { store: new PowertoolsDynamoDBStore({ client, tableName }), key: (payment) => payment.paymentId },
    )
    const inFlight = charge({ paymentId: 'p-1', amount: 1 }, context())
    await claimWritten(tableName)
    let powertoolsRuns = 0
    const after = powertoolsCharge(tableName, async () => ++powertoolsRuns)
    await expect(after({ paymentId: 'p-1', amount: 1 }, context())).rejects.toBeInstanceOf(
      IdempotencyAlreadyInProgressError,
    )
    expect(powertoolsRuns).toBe(0)
    running.open()
    await inFlight
  })

  it('finds Powertools records on a table with a sort key under its static partition value', async () => {
    const tableName = `app-${randomUUID()}`
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    )
    const names = { keyAttr: 'pk', sortKeyAttr: 'sk' }
    const legacyCharge = powertoolsCharge(
      tableName,
      async (payment) => ({ chargeId: 'pt_sk', amount: payment.amount }),
      names,
    )
    await legacyCharge({ paymentId: 'p-1', amount: 4 }, context())
    const [item] = await scanTable(client, tableName)
    expect(item?.pk?.S).toBe(`idempotency#${FUNCTION}`)

    const { charge, runs } = ourCharge(
      new PowertoolsDynamoDBStore({ client, tableName, attributeNames: names }),
    )
    expect(await charge({ paymentId: 'p-1', amount: 4 }, context())).toEqual({ chargeId: 'pt_sk', amount: 4 })
    expect(runs).toHaveLength(0)
  })

  it('refuses options it cannot honour, naming them', () => {
    const make = (options: object) => () =>
      new PowertoolsDynamoDBStore({ client, tableName: 't', ...options } as never)
    expect(make({ hashFunction: 'nope' })).toThrow(
      /option "hashFunction" must be a hash Node.js supports, got "nope"/,
    )
    expect(make({ selection: 'jmespath' })).toThrow(/option "selection" must be 'string' or 'json'/)
    expect(make({ keyPrefix: '' })).toThrow(/option "keyPrefix" must be a non-empty string/)
  })
})
