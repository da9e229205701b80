// The user's payment code, imported by README blocks as './payments.js'. A stand-in for a
// payment provider, like the one in the README's first handler.
import type { Context } from 'aws-lambda'

/** A payment request: the event of the payment examples. */
export interface Payment {
  paymentId: string
  amount: number
}

/** What a charge returns, and what a replay returns again. */
export interface ChargeReceipt {
  chargeId: string
  amount: number
}

/** The side effect that must happen once per payment; the Lambda context is optional. */
export const charge = async (payment: Payment, _context?: Context): Promise<ChargeReceipt> => ({
  chargeId: `ch_${payment.paymentId}`,
  amount: payment.amount,
})

/** Creates a payment from an HTTP request body. */
export const createPayment = async (body: string | undefined) => {
  const { paymentId } = JSON.parse(body ?? '{}') as Payment
  return { paymentId, status: 'created' }
}
