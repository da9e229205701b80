import { randomUUID } from 'node:crypto'
import { SendMessageCommand } from '@aws-sdk/client-sqs'
import type { IdempotencyEvent } from '../../../src/index.js'
import type { OrderPaid } from '../../functions/order-paid.js'
import type { SimulatedPaymentProvider } from '../../functions/payment-provider.js'
import { LocalInputError } from '../local-api.js'
import type { LocalSqs } from '../local-sqs.js'

/**
 * The page's files, served by the local API: `GET /` and what it loads. A fixed list, so no
 * request path ever reaches the file system.
 */
export const pageFiles: Record<string, URL> = {
  '/': new URL('./index.html', import.meta.url),
  '/page.css': new URL('./page.css', import.meta.url),
  '/page.js': new URL('./page.js', import.meta.url),
}

/** One outcome in the page's timeline. */
export interface TimelineEntry extends IdempotencyEvent {
  /** Increases by one per outcome, so the page can tell new entries from old ones. */
  seq: number
  /** Epoch milliseconds. */
  at: number
  functionName: string
}

/** The outcomes the sample functions report, kept for the page. */
export interface OutcomeTimeline {
  /** The newest {@link TIMELINE_LENGTH} outcomes, newest first. */
  readonly entries: TimelineEntry[]
  /** Which function reported outcomes for a record id, if the timeline saw it. */
  functionOf(id: string): string | undefined
  /** When the timeline last saw a record id (epoch milliseconds), `0` if never. */
  lastSeen(id: string): number
  stop(): void
}

/** How many outcomes the timeline keeps. */
export const TIMELINE_LENGTH = 200

/**
 * Subscribes to the functions' outcomes (`outcomeListeners` of `infra/functions/metrics.ts`) and
 * keeps the newest ones.
 *
 * @example
 * const timeline = startOutcomeTimeline(outcomeListeners)
 * timeline.entries[0] // { seq: 3, at: 1767225600000, functionName: 'Payment', outcome: 'replayed', id: '9f2c…' }
 */
export const startOutcomeTimeline = (
  listeners: Set<(event: IdempotencyEvent, functionName: string) => void>,
): OutcomeTimeline => {
  const entries: TimelineEntry[] = []
  const seen = new Map<string, { functionName: string; at: number }>()
  let seq = 0
  const listener = (event: IdempotencyEvent, functionName: string) => {
    const at = Date.now()
    entries.unshift({ ...event, seq: ++seq, at, functionName })
    entries.length = Math.min(entries.length, TIMELINE_LENGTH)
    seen.set(event.id, { functionName, at })
  }
  listeners.add(listener)
  return {
    entries,
    functionOf: (id) => seen.get(id)?.functionName,
    lastSeen: (id) => seen.get(id)?.at ?? 0,
    stop: () => {
      listeners.delete(listener)
    },
  }
}

/** What the page's actions act on. */
export interface PageActionTargets {
  provider: SimulatedPaymentProvider
  normalLatencyMs: number
  slowLatencyMs: number
  sqs: LocalSqs
}

/**
 * The page's local-only `POST` routes:
 * - `/_local/provider` `{ "mode": "normal" | "slow" | "timeout" }`: how the payment provider answers;
 * - `/_local/order-paid` `{ "sku", "quantity" }`: sends one new `order_paid` event as two messages,
 *   as a producer that retries after a lost answer does; the consumer keys on its `eventId`.
 *
 * @example
 * startLocalApi({ routes, actions: pageActions({ provider, normalLatencyMs: 100, slowLatencyMs: 4000, sqs }) })
 */
export const pageActions = (
  targets: PageActionTargets,
): Record<string, (body: unknown) => Promise<unknown>> => ({
  '/_local/provider': async (body) => {
    const { mode } = (body ?? {}) as { mode?: unknown }
    if (mode !== 'normal' && mode !== 'slow' && mode !== 'timeout') {
      throw new LocalInputError(`mode must be "normal", "slow" or "timeout", got ${JSON.stringify(mode)}`)
    }
    targets.provider.behaviour = {
      latencyMs: mode === 'slow' ? targets.slowLatencyMs : targets.normalLatencyMs,
      timeout: mode === 'timeout',
    }
    return { mode, ...targets.provider.behaviour }
  },
  '/_local/order-paid': async (body) => {
    const { sku, quantity } = (body ?? {}) as { sku?: unknown; quantity?: unknown }
    if (typeof sku !== 'string' || sku.length === 0 || sku.length > 64) {
      throw new LocalInputError(`sku must be a string of 1 to 64 characters, got ${JSON.stringify(sku)}`)
    }
    if (!Number.isSafeInteger(quantity) || (quantity as number) < 1 || (quantity as number) > 100) {
      throw new LocalInputError(`quantity must be an integer from 1 to 100, got ${JSON.stringify(quantity)}`)
    }
    const id = randomUUID().replaceAll('-', '').slice(0, 24)
    const event: OrderPaid = {
      type: 'order_paid',
      eventId: `evt_page_${id}`,
      paymentId: `pay_page_${id}`,
      customer: 'cus_page',
      sku,
      quantity: quantity as number,
      amount: 4200 * (quantity as number),
      currency: 'EUR',
      paidAt: new Date().toISOString(),
    }
    const send = () =>
      targets.sqs.client.send(
        new SendMessageCommand({
          QueueUrl: targets.sqs.queueUrl,
          MessageBody: JSON.stringify(event),
          MessageAttributes: { type: { DataType: 'String', StringValue: 'order_paid' } },
        }),
      )
    const sent = await Promise.all([send(), send()])
    return { eventId: event.eventId, messageIds: sent.map((message) => message.MessageId) }
  },
})
