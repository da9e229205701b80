import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs'
import type { OrderPaid } from '../functions/order-paid.js'

/** The messages of one consumer load run. */
export interface OrderMessagePlan {
  /** Message bodies in sending order, duplicates included. */
  bodies: string[]
  /** The distinct event ids among them. */
  eventIds: Set<string>
  /** Messages that repeat an event already in the plan. */
  duplicates: number
}

/**
 * `messages` order_paid messages of which a `duplicateShare` are second (or third...) copies of an
 * event already in the plan, byte for byte, as a producer that retries a send makes them. Copies
 * pick their event at random and everything is shuffled, so a copy may arrive long after its event
 * or in the same moment on another poller.
 *
 * @example
 * const plan = planOrderMessages({ messages: 1000, duplicateShare: 0.3, runId, sku, random })
 * plan.eventIds.size // 700
 */
export const planOrderMessages = (options: {
  messages: number
  duplicateShare: number
  runId: string
  sku: string
  random: () => number
}): OrderMessagePlan => {
  const duplicates = Math.round(options.messages * options.duplicateShare)
  const distinct = options.messages - duplicates
  if (distinct < 1) throw new Error(`at least one distinct event is needed, got ${options.messages} messages`)
  const events = Array.from({ length: distinct }, (_, index) =>
    JSON.stringify({
      type: 'order_paid',
      eventId: `evt_${options.runId}_${index}`,
      paymentId: `pay_${options.runId}_${index}`,
      customer: `cus_${options.runId}_${index}`,
      sku: options.sku,
      quantity: 1,
      amount: 1000 + index,
      currency: 'EUR',
      paidAt: new Date(Date.UTC(2026, 0, 1, 0, 0, index)).toISOString(),
    } satisfies OrderPaid),
  )
  const bodies = [
    ...events,
    ...Array.from({ length: duplicates }, () => events[Math.floor(options.random() * distinct)] as string),
  ]
  // Fisher-Yates with the seeded generator: the same seed gives the same order.
  for (let index = bodies.length - 1; index > 0; index--) {
    const other = Math.floor(options.random() * (index + 1))
    ;[bodies[index], bodies[other]] = [bodies[other] as string, bodies[index] as string]
  }
  const eventIds = new Set(events.map((body) => (JSON.parse(body) as OrderPaid).eventId))
  return { bodies, eventIds, duplicates }
}

/**
 * Sends the bodies to the queue in batches of 10 (each its own message, with the attribute the
 * payment function sets), a few batches at a time; fails on any message the queue refused.
 *
 * @example
 * await sendOrderMessages(sqs, queueUrl, plan.bodies)
 */
export const sendOrderMessages = async (
  client: SQSClient,
  queueUrl: string,
  bodies: string[],
  concurrency = 4,
): Promise<void> => {
  const batches: string[][] = []
  for (let start = 0; start < bodies.length; start += 10) batches.push(bodies.slice(start, start + 10))
  let next = 0
  const sender = async () => {
    while (next < batches.length) {
      const batch = batches[next++] as string[]
      const { Failed = [] } = await client.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: batch.map((body, index) => ({
            Id: String(index),
            MessageBody: body,
            MessageAttributes: { type: { DataType: 'String', StringValue: 'order_paid' } },
          })),
        }),
      )
      if (Failed.length > 0) {
        throw new Error(
          `the queue refused ${Failed.length} messages: ${Failed[0]?.Code} ${Failed[0]?.Message}`,
        )
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, batches.length) }, sender))
}
