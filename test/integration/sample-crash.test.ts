import { randomUUID } from 'node:crypto'
import { SendMessageCommand } from '@aws-sdk/client-sqs'
import { describe, expect, inject, it } from 'vitest'
import { startLocalSample } from '../../infra/local/local-sample.js'

// The order consumer's sandbox dies right after its side effect, before the record says so; the
// message comes back once the visibility timeout and the lease are over. With the transactional
// completion the retry replays; without it (SAMPLE_UNPROTECTED), the retry takes the key over and
// runs the work again: a second order, the stock taken twice.

const crashOnceAfterTheEffect = async (unprotected: boolean) => {
  let crashed = false
  const sample = await startLocalSample({
    port: 0,
    dynamodbEndpoint: inject('dynamoEndpoint'),
    tablePrefix: `crash-${randomUUID().slice(0, 8)}`,
    visibilityTimeoutSeconds: 3,
    timeoutsMs: { OrderConsumer: 2_000 },
    unprotected,
    faults: (functionName) => {
      if (functionName !== 'OrderConsumer' || crashed) return undefined
      crashed = true
      return { killAt: 'after-effect' }
    },
    functionOutput: () => {},
    log: () => {},
  })
  try {
    const before = await sample.state()
    const paymentId = `pay_${randomUUID().slice(0, 8)}`
    await sample.sqs.client.send(
      new SendMessageCommand({
        QueueUrl: sample.sqs.queueUrl,
        MessageBody: JSON.stringify({
          type: 'order_paid',
          eventId: `evt_${paymentId}`,
          paymentId,
          customer: 'cus_crash',
          sku: 'sku_coffee',
          quantity: 2,
          amount: 8400,
          currency: 'EUR',
          paidAt: new Date().toISOString(),
        }),
      }),
    )
    await sample.eventSource.settled(60_000)
    const after = await sample.state()
    return {
      kills: sample.functions.consumer.stats.killsAt['after-effect'],
      deliveries: sample.eventSource.invocations,
      orders: after.orders.filter((order) => order.paymentId === paymentId).length,
      taken: (before.stock.sku_coffee ?? 0) - (after.stock.sku_coffee ?? 0),
    }
  } finally {
    await sample.stop()
  }
}

describe('the order consumer when its sandbox dies after the effect', () => {
  it('replays on the retry: one order, the stock taken once', { timeout: 90_000 }, async () => {
    const run = await crashOnceAfterTheEffect(false)
    expect(run.kills).toBe(1)
    expect(run.deliveries).toBeGreaterThanOrEqual(2)
    expect(run).toMatchObject({ orders: 1, taken: 2 })
  })

  it('runs the work again without the transactional completion: two orders, the stock taken twice', {
    timeout: 90_000,
  }, async () => {
    const run = await crashOnceAfterTheEffect(true)
    expect(run.kills).toBe(1)
    expect(run).toMatchObject({ orders: 2, taken: 4 })
  })
})
