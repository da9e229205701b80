// The user's order code, imported by README blocks as './orders.js'. In-memory stand-ins for an
// order service and a mailer.

/** Orders created, and receipts sent, by this instance. */
export const created: string[] = []
export const receiptsSent: string[] = []

/** Creates an order, e.g. from a paid-order message. */
export const createOrder = async (order: { orderId: string; amount: number }) => {
  created.push(order.orderId)
  return { orderId: order.orderId }
}

/** Creates the order of an `OrderPaid` event. */
export const createOrderOnce = async (event: { eventId: string; orderId: string }): Promise<void> => {
  created.push(event.orderId)
}

/** Mails the receipt of an order. */
export const sendReceipt = async (order: { orderId: string; customer: string }): Promise<void> => {
  receiptsSent.push(order.orderId)
}
