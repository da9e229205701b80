/** The message the payment function sends to the order events queue after a successful charge. */
export interface OrderPaid {
  type: 'order_paid'
  /** Stable for one payment: a re-run of the same payment sends the same id, so the consumer can key on it. */
  eventId: string
  paymentId: string
  customer: string
  sku: string
  quantity: number
  amount: number
  currency: string
  paidAt: string
}

/**
 * Checks a parsed message body, naming the first field that is wrong.
 *
 * @example
 * const event = assertOrderPaid(JSON.parse(record.body))
 */
export const assertOrderPaid = (value: unknown): OrderPaid => {
  const event = value as Partial<OrderPaid> | null
  if (typeof event !== 'object' || event === null)
    throw new Error(`order_paid: expected an object, got ${value}`)
  if (event.type !== 'order_paid')
    throw new Error(`order_paid: unexpected type ${JSON.stringify(event.type)}`)
  for (const field of ['eventId', 'paymentId', 'customer', 'sku'] as const) {
    if (typeof event[field] !== 'string' || event[field] === '') {
      throw new Error(`order_paid: ${field} must be a non-empty string, got ${JSON.stringify(event[field])}`)
    }
  }
  if (!Number.isSafeInteger(event.quantity) || (event.quantity as number) < 1) {
    throw new Error(`order_paid: quantity must be a positive integer, got ${JSON.stringify(event.quantity)}`)
  }
  return event as OrderPaid
}
