import { type DurableContext, withDurableExecution } from '@aws/durable-execution-sdk-js'
import { LocalDurableTestRunner, WaitingOperationStatus } from '@aws/durable-execution-sdk-js-testing'
import middy from '@middy/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  DynamoDBStore,
  IdempotencyConfigError,
  type IdempotencyStore,
  idempotent,
  makeIdempotent,
} from '../../src/index.js'
import { countingClient, createIdempotencyTable, scanTable } from '../helpers/dynamodb.js'
import { manualClock } from '../helpers/lambda.js'

// The SDK's local runner replays the handler from the start on every invocation of an execution,
// as Lambda does, and skips its waits.
beforeAll(() => LocalDurableTestRunner.setupTestEnvironment({ skipTime: true }))
afterAll(() => LocalDurableTestRunner.teardownTestEnvironment())

const { client } = countingClient()
afterAll(() => client.destroy())

type Order = { orderId: string; amount: number }

/**
 * A durable order workflow: a charge step, a two-hour wait (longer than any Lambda invocation, so
 * longer than any invocation's remaining time), then a manager's approval by callback. Its
 * invocations get a Lambda context with 15 minutes left.
 */
const orderWorkflow = (store: IdempotencyStore, options: { durableTimeoutSeconds?: number } = {}) => {
  const seen = { invocations: 0, charges: 0 }
  const clock = manualClock()
  const workflow = async (order: Order, context: DurableContext) => {
    seen.invocations++
    const charge = await context.step('charge', async () => {
      seen.charges++
      return { chargeId: `ch_${seen.charges}`, amount: order.amount }
    })
    await context.wait({ hours: 2 })
    const approval = await context.waitForCallback<string>('approve', async () => {})
    return { ...charge, approval }
  }
  const handler = withDurableExecution(
    makeIdempotent(workflow, {
      store,
      key: (order) => order.orderId,
      name: 'order-workflow',
      // The protocol's clock, moved by the tests: hours pass while an execution waits.
      now: clock.now,
      logger: false,
      ...options,
    }),
  )
  return { handler, seen, clock }
}

const newStore = async () => {
  const tableName = await createIdempotencyTable(client)
  return { store: new DynamoDBStore({ client, tableName }), items: () => scanTable(client, tableName) }
}

type DurableHandler = ReturnType<typeof withDurableExecution>

/** Starts an execution and waits until it suspends on its approval callback, past the wait. */
const startUntilApproval = async (handler: DurableHandler, order: Order) => {
  const runner = new LocalDurableTestRunner({ handlerFunction: handler })
  const execution = runner.run({ payload: order })
  const approve = runner.getOperation('approve')
  await approve.waitForData(WaitingOperationStatus.SUBMITTED)
  return { execution, approve }
}

const run = (handler: DurableHandler, order: Order) =>
  new LocalDurableTestRunner({ handlerFunction: handler }).run({ payload: order })

describe('durable functions on DynamoDB Local', () => {
  it('treats the replays of one execution as that execution: the work runs once and completes', async () => {
    const { store, items } = await newStore()
    const { handler, seen } = orderWorkflow(store)
    const { execution, approve } = await startUntilApproval(handler, { orderId: 'o-1', amount: 42 })
    const [claim] = await items()
    expect(claim).toMatchObject({
      status: { S: 'IN_PROGRESS' },
      owner: { S: expect.stringMatching(/^durable:/) },
    })
    await approve.sendCallbackSuccess('approved')
    const result = await execution

    expect(result.getStatus()).toBe('SUCCEEDED')
    expect(result.getResult()).toEqual({ chargeId: 'ch_1', amount: 42, approval: 'approved' })
    // The handler ran from the start on each replay (after the wait, after the callback), and each
    // replay re-entered the execution's own claim instead of meeting it as a duplicate.
    expect(seen.invocations).toBeGreaterThanOrEqual(3)
    expect(seen.charges).toBe(1)
    const [record, ...others] = await items()
    expect(others).toEqual([])
    expect(record).toMatchObject({ status: { S: 'COMPLETED' }, owner: claim?.owner })

    // A later execution with the same key replays the stored result without running anything.
    const invocations = seen.invocations
    const again = await run(handler, { orderId: 'o-1', amount: 42 })
    expect(again.getStatus()).toBe('SUCCEEDED')
    expect(again.getResult()).toEqual({ chargeId: 'ch_1', amount: 42, approval: 'approved' })
    expect(seen.invocations).toBe(invocations)
  })

  it('stops a second execution with the same key, even hours into the first one', async () => {
    const { store } = await newStore()
    const { handler, seen, clock } = orderWorkflow(store)
    const first = await startUntilApproval(handler, { orderId: 'o-2', amount: 7 })
    // Three hours on: far past the 15 minutes any one invocation of the first execution had.
    clock.advance(3 * 3_600_000)

    const second = await run(handler, { orderId: 'o-2', amount: 7 })
    expect(second.getStatus()).toBe('FAILED')
    expect(second.getError()).toMatchObject({ errorType: 'IdempotencyInProgressError' })
    expect(seen.charges).toBe(1)

    await first.approve.sendCallbackSuccess('approved')
    expect((await first.execution).getStatus()).toBe('SUCCEEDED')
    const third = await run(handler, { orderId: 'o-2', amount: 7 })
    expect(third.getResult()).toEqual({ chargeId: 'ch_1', amount: 7, approval: 'approved' })
    expect(seen.charges).toBe(1)
  })

  it('holds the key for durableTimeoutSeconds: a lease shorter than the wait lets another execution in', async () => {
    const { store } = await newStore()
    // One hour: shorter than the workflow's two-hour wait.
    const { handler, seen, clock } = orderWorkflow(store, { durableTimeoutSeconds: 3_600 })
    const first = await startUntilApproval(handler, { orderId: 'o-3', amount: 1 })
    clock.advance(2 * 3_600_000)
    const second = await startUntilApproval(handler, { orderId: 'o-3', amount: 1 })
    expect(seen.charges).toBe(2)
    // The first execution's replay now meets the other execution's claim, and stops.
    await first.approve.sendCallbackSuccess('approved')
    const result = await first.execution
    expect(result.getStatus()).toBe('FAILED')
    expect(result.getError()).toMatchObject({ errorType: 'IdempotencyInProgressError' })
    await second.approve.sendCallbackSuccess('approved')
    expect((await second.execution).getStatus()).toBe('SUCCEEDED')
  })

  it('works the same through the middleware: withDurableExecution(middy(handler).use(idempotent()))', async () => {
    const { store, items } = await newStore()
    const seen = { invocations: 0, charges: 0 }
    const clock = manualClock()
    const handler = withDurableExecution(
      middy(async (_order: Order, context: DurableContext) => {
        seen.invocations++
        const charge = await context.step('charge', async () => ({ chargeId: `ch_${++seen.charges}` }))
        await context.wait({ hours: 2 })
        const approval = await context.waitForCallback<string>('approve', async () => {})
        return { ...charge, approval }
      }).use(
        idempotent<Order>({ store, key: (order) => order.orderId, now: clock.now, logger: false }),
      ) as never,
    )
    const first = await startUntilApproval(handler, { orderId: 'o-4', amount: 3 })
    clock.advance(3 * 3_600_000)
    const second = await run(handler, { orderId: 'o-4', amount: 3 })
    expect(second.getError()).toMatchObject({ errorType: 'IdempotencyInProgressError' })
    await first.approve.sendCallbackSuccess('approved')
    const result = await first.execution
    expect(result.getStatus()).toBe('SUCCEEDED')
    expect(result.getResult()).toEqual({ chargeId: 'ch_1', approval: 'approved' })
    expect(seen.invocations).toBeGreaterThanOrEqual(3)
    expect(seen.charges).toBe(1)
    expect(await items()).toMatchObject([{ status: { S: 'COMPLETED' } }])
  })

  it('releases the key when the execution fails, so that a new execution runs', async () => {
    const { store, items } = await newStore()
    let attempts = 0
    const handler = withDurableExecution(
      makeIdempotent(
        async (order: Order, context: DurableContext) => {
          const attempt = await context.step('attempt', async () => ++attempts)
          await context.wait({ minutes: 30 })
          if (attempt === 1) throw new Error('card declined')
          return { attempt, orderId: order.orderId }
        },
        { store, key: (order) => order.orderId, name: 'retrying', logger: false },
      ),
    )
    const failed = await run(handler, { orderId: 'o-5', amount: 1 })
    expect(failed.getStatus()).toBe('FAILED')
    expect(failed.getError()).toMatchObject({ errorMessage: 'card declined' })
    expect(await items()).toEqual([])
    const retried = await run(handler, { orderId: 'o-5', amount: 1 })
    expect(retried.getResult()).toEqual({ attempt: 2, orderId: 'o-5' })
  })

  it('refuses to wrap the handler that withDurableExecution returns, naming the fix', async () => {
    const { store, items } = await newStore()
    const inner = withDurableExecution(async (order: Order) => order.orderId)
    const outside = makeIdempotent(inner, { store, key: () => 'o-6', name: 'outside', logger: false })
    const runner = new LocalDurableTestRunner({ handlerFunction: outside as DurableHandler })
    await expect(runner.run({ payload: { orderId: 'o-6', amount: 1 } })).rejects.toThrow(
      IdempotencyConfigError,
    )
    expect(await items()).toEqual([])
  })

  it('checks durableTimeoutSeconds when the wrapper is made', () => {
    const { store } = { store: { claim() {}, complete() {}, release() {}, get() {} } as never }
    for (const value of [0, 1.5, -1, 31_622_401, '3600']) {
      expect(() => makeIdempotent(async () => 1, { store, durableTimeoutSeconds: value as never })).toThrow(
        /durableTimeoutSeconds/,
      )
    }
  })
})
