import middy, { type MiddlewareObj } from '@middy/core'
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda'

/** What both libraries wrap: a payment endpoint that answers 201 with a small JSON body. */
export const createPayment = async (
  _event: APIGatewayProxyEventV2,
): Promise<APIGatewayProxyStructuredResultV2> => ({
  statusCode: 201,
  headers: { 'content-type': 'application/json' },
  body: '{"paymentId":"pay_8e03978e","status":"succeeded","amount":10000,"currency":"EUR"}',
})

type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>

/**
 * A Middy handler with the same core options for every variant. Middy's early-timeout timer is off
 * (`timeoutEarlyInMillis: 0`) so that a per-call timer does not add noise to figures that both
 * libraries and the bare handler would pay alike.
 */
export const wrap = (
  handler: Handler,
  middleware?: MiddlewareObj<APIGatewayProxyEventV2, unknown, Error, Context>,
): ((event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>) => {
  const chain = middy<APIGatewayProxyEventV2, unknown, Error, Context>(handler, { timeoutEarlyInMillis: 0 })
  if (middleware) chain.use(middleware)
  return (event, context) => chain(event, context)
}
