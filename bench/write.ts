import { type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb'
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda'
// The same compiled package as the middleware (bench/sides/ours.ts): one module instance holds the claim.
import { currentClaim } from '../dist/index.js'
import type { RequestCounter } from './counting.js'
import { createTable } from './dynamodb-local.js'
import { lambdaContext, smallEvent } from './events.js'
import type { Library } from './requests.js'
import { oursMiddleware } from './sides/ours.js'
import { createPayment, wrap } from './sides/payment.js'
import { powertoolsMiddleware } from './sides/powertools.js'
import { type Summary, shuffle, summarize } from './stats.js'

/** A first call whose handler writes to DynamoDB, for one library. */
export interface WriteSide {
  /** Requests per invocation. */
  requests: Summary
  /** The commands of the last invocation measured, e.g. "PutItem + TransactWriteItems". */
  commands: string
  /** Wall time per invocation, milliseconds. */
  latency: Summary
}

export interface WriteResult {
  label: string
  ours: WriteSide
  powertools: WriteSide
}

// The business write both handlers make: one order, created once.
const putOrder = (tableName: string, orderId: string) => ({
  TableName: tableName,
  Item: { id: { S: orderId }, amount: { N: '10000' }, currency: { S: 'EUR' } },
  ConditionExpression: 'attribute_not_exists(id)',
})

const orderId = (event: APIGatewayProxyEventV2) => `order-${event.headers['idempotency-key']}`

/**
 * A first call (fresh key) whose handler creates an order in DynamoDB, against DynamoDB Local:
 * - Powertools: its claim, the handler's own `PutItem`, its completion;
 * - lambda-idempotency with transactional completion: its claim, then the order and the completion
 *   in one `TransactWriteItems` (`currentClaim(context).transactWrite`).
 * Requests are counted by the middleware on each client's stack; one call of each library per
 * iteration, in a random order, after a warm-up.
 */
export const measureFirstWrite = async (
  clients: Record<Library, { client: DynamoDBClient; counter: RequestCounter; tableName: string }>,
  iterations: number,
): Promise<WriteResult> => {
  const context = lambdaContext()
  const orders = {
    ours: await createTable(clients.ours.client, 'bench-orders-ours'),
    powertools: await createTable(clients.powertools.client, 'bench-orders-powertools'),
  }
  const ours = clients.ours
  const powertools = clients.powertools
  const handlers: Record<Library, (event: APIGatewayProxyEventV2, context: Context) => Promise<unknown>> = {
    ours: wrap(
      async (event, handlerContext) => {
        const result = await createPayment(event)
        await currentClaim(handlerContext).transactWrite(
          ours.client,
          [{ Put: putOrder(orders.ours, orderId(event)) }],
          result,
        )
        return result
      },
      oursMiddleware(ours.client, ours.tableName, 'header'),
    ),
    powertools: wrap(
      async (event) => {
        await powertools.client.send(new PutItemCommand(putOrder(orders.powertools, orderId(event))))
        return createPayment(event)
      },
      powertoolsMiddleware(powertools.client, powertools.tableName, 'header'),
    ),
  }
  const requests: Record<Library, number[]> = { ours: [], powertools: [] }
  const latency: Record<Library, number[]> = { ours: [], powertools: [] }
  const commands: Record<Library, string> = { ours: '', powertools: '' }
  const warmup = Math.max(5, Math.round(iterations / 10))
  for (let i = 0; i < warmup + iterations; i++) {
    for (const library of shuffle<Library>(['ours', 'powertools'])) {
      const { counter } = clients[library]
      const event = smallEvent()
      counter.reset()
      const start = performance.now()
      const response = (await handlers[library](event, context)) as { statusCode?: number }
      const ms = performance.now() - start
      if (response?.statusCode !== 201) {
        throw new Error(`${library}: a first call answered ${JSON.stringify(response)}, expected 201`)
      }
      if (i < warmup) continue
      requests[library].push(counter.total)
      latency[library].push(ms)
      commands[library] = Object.entries(counter.byCommand)
        .map(([command, count]) => (count === 1 ? command : `${count} x ${command}`))
        .join(' + ')
    }
  }
  const side = (library: Library): WriteSide => ({
    requests: summarize(requests[library]),
    commands: commands[library],
    latency: summarize(latency[library]),
  })
  return { label: 'first call that writes an order', ours: side('ours'), powertools: side('powertools') }
}
