import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb'
import type { OrderPaid } from './order-paid.js'
import type { PaymentRequest } from './payment-request.js'

/** A stored payment, also the response body. */
export interface Payment extends PaymentRequest {
  paymentId: string
  chargeId: string
  status: 'succeeded'
  createdAt: string
}

/**
 * A payment row as the payments table holds it: the payment and, in the same item, the
 * `order_paid` event it publishes (the outbox). The table's stream hands the new row to
 * `payment-outbox.ts`, which sends the event; a charge that is saved can therefore never lose its
 * event, and a row written once sends it once.
 */
export interface PaymentRow extends Payment {
  orderPaid: OrderPaid
}

/** What {@link savePayment} found: the payment this run wrote, or the one an earlier run wrote. */
export type SavedPayment =
  | { written: true; payment: Payment }
  | { written: false; payment: Payment; sameRequest: boolean }

/**
 * The `order_paid` event of a payment: its id is derived from the payment id, so every run of the
 * same payment names the same event.
 *
 * @example
 * orderPaid(payment).eventId // 'evt_3f9a…'
 */
export const orderPaid = (payment: Payment): OrderPaid => ({
  type: 'order_paid',
  eventId: `evt_${payment.paymentId.slice('pay_'.length)}`,
  paymentId: payment.paymentId,
  customer: payment.customer,
  sku: payment.sku,
  quantity: payment.quantity,
  amount: payment.amount,
  currency: payment.currency,
  paidAt: payment.createdAt,
})

/**
 * Writes the payment and its `order_paid` event in one item, unless a row with this `paymentId`
 * exists; then reads that row (consistently) and returns it: a re-run of a payment whose
 * idempotency record was lost (TTL passed, a lease taken over) answers with the first run's
 * `chargeId` and `createdAt`, and sends no second event.
 *
 * @example
 * const saved = await savePayment(dynamodb, 'payments', payment)
 * return created(saved.payment)
 */
export const savePayment = async (
  client: DynamoDBDocumentClient,
  tableName: string,
  payment: Payment,
): Promise<SavedPayment> => {
  const row: PaymentRow = { ...payment, orderPaid: orderPaid(payment) }
  try {
    await client.send(
      new PutCommand({
        TableName: tableName,
        Item: row,
        ConditionExpression: 'attribute_not_exists(paymentId)',
      }),
    )
    return { written: true, payment }
  } catch (error) {
    if ((error as Error).name !== 'ConditionalCheckFailedException') throw error
  }
  const { Item } = await client.send(
    new GetCommand({ TableName: tableName, Key: { paymentId: payment.paymentId }, ConsistentRead: true }),
  )
  // The condition failed, so the row exists; a row deleted in between is a conflict to look at.
  if (Item === undefined) throw new Error(`payment ${payment.paymentId} was there and is gone: retry`)
  const { orderPaid: _event, ...stored } = Item as PaymentRow
  const sameRequest = (['amount', 'currency', 'customer', 'sku', 'quantity'] as const).every(
    (field) => stored[field] === payment[field],
  )
  return { written: false, payment: stored, sameRequest }
}
