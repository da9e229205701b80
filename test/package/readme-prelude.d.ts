// Names that README.md snippets use without defining them, so that a snippet shows only what it is
// about. test/package/readme-snippets.test.ts compiles every ```ts block of the README together
// with this file. A global script (no top-level import or export): a snippet's own imports and
// declarations shadow these. Kept out of the root tsconfig so that tests never see these globals.

/** The input of the payment snippets. */
interface Payment {
  paymentId: string
  amount: number
}

/** What the work returns, and what a replay returns again. */
interface ChargeReceipt {
  chargeId: string
  amount: number
}

/** The side effect that must happen once per payment; the Lambda context is optional. */
declare function charge(
  payment: ChargeRequest,
  context?: import('aws-lambda').Context,
): Promise<ChargeReceipt>

/** An idempotency store built elsewhere in the snippet's module (a `DynamoDBStore` in production). */
declare const store: import('../../src/index.js').IdempotencyStore

/** The Lambda context of the current invocation. */
declare const context: import('aws-lambda').Context

/** Snippets that only show the `.use()` call leave the imports out. */
declare const middy: typeof import('@middy/core').default
declare const idempotent: typeof import('../../src/index.js').idempotent

/** The HTTP snippet's work: creates a payment from the request body. */
declare function createPayment(body: string | undefined): Promise<{ paymentId: string; status: string }>

/** The queue snippet's work: creates an order from a message body. */
declare function createOrder(order: { orderId: string; amount: number }): Promise<{ orderId: string }>

/** CDK snippets show the construct calls of a stack's constructor, without its imports. */
declare const sqs: typeof import('aws-cdk-lib/aws-sqs')
declare const Duration: typeof import('aws-cdk-lib').Duration
declare const SqsEventSource: typeof import('aws-cdk-lib/aws-lambda-event-sources').SqsEventSource

/** The queue consumer function of a CDK snippet. */
declare const consumer: import('aws-cdk-lib/aws-lambda').IFunction

/** A withdrawal wrapped with `makeIdempotent` and `abandoned: 'block'`, and its input. */
interface WithdrawalRequest {
  withdrawalId: string
  amount: number
}
declare const withdrawOnce: (
  request: WithdrawalRequest,
  context?: import('aws-lambda').Context,
) => Promise<{ withdrawn: number }>
declare const request: WithdrawalRequest

/** A metrics client, e.g. the `Metrics` of Powertools for AWS Lambda. */
declare const metrics: { addMetric(name: string, unit: 'Count', value: number): void }
