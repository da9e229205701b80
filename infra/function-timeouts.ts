/**
 * Each sample function's timeout in seconds: the stack deploys these and the local runner ends an
 * invocation at the same moment, so a local run times out where Lambda would.
 *
 * @example
 * new SampleFunction(this, 'Payment', { entry, timeout: Duration.seconds(functionTimeoutSeconds.Payment) })
 */
export const functionTimeoutSeconds = {
  Payment: 10,
  OrderConsumer: 10,
  OrderReceipts: 10,
  PaymentOutbox: 10,
} as const

/** The name of a sample function, as the stack and the local run call it. */
export type SampleFunctionName = keyof typeof functionTimeoutSeconds
