import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { APIGatewayProxyEventV2 } from 'aws-lambda'
import { lambdaContext, smallEvent } from './events.js'
import type { Library } from './requests.js'
import { oursMiddleware } from './sides/ours.js'
import { createPayment, wrap } from './sides/payment.js'
import { powertoolsMiddleware } from './sides/powertools.js'
import { type Summary, shuffle, summarize } from './stats.js'

export interface LatencyPhase {
  phase: 'first' | 'replay'
  label: string
  /** Wall time per invocation, milliseconds. */
  ours: Summary
  powertools: Summary
  /** One bare `PutItem` against the same DynamoDB Local, for scale. */
  putItem: Summary
}

/**
 * Wall time per invocation of the small event through each library's Middy middleware against
 * DynamoDB Local: first calls (fresh key each) and replays (one completed key), one call of each
 * library per iteration in a random order, after a warm-up.
 */
export const measureLatency = async (
  clients: Record<Library, { client: DynamoDBClient; tableName: string }>,
  iterations: number,
): Promise<LatencyPhase[]> => {
  const context = lambdaContext()
  const handlers = {
    ours: wrap(createPayment, oursMiddleware(clients.ours.client, clients.ours.tableName, 'header')),
    powertools: wrap(
      createPayment,
      powertoolsMiddleware(clients.powertools.client, clients.powertools.tableName, 'header'),
    ),
  }
  const replayKeys = { ours: crypto.randomUUID(), powertools: crypto.randomUUID() }
  for (const library of ['ours', 'powertools'] as const) {
    await handlers[library](smallEvent(replayKeys[library]), context)
  }
  const timed = async (call: () => Promise<unknown>) => {
    const start = performance.now()
    await call()
    return performance.now() - start
  }
  const samples = {
    first: { ours: [] as number[], powertools: [] as number[] },
    replay: { ours: [] as number[], powertools: [] as number[] },
  }
  const putItem: number[] = []
  const { PutItemCommand } = await import('@aws-sdk/client-dynamodb')
  const warmup = Math.max(10, Math.round(iterations / 10))
  for (let i = 0; i < warmup + iterations; i++) {
    const record = i >= warmup
    for (const library of shuffle<Library>(['ours', 'powertools'])) {
      const handler = handlers[library]
      const event: APIGatewayProxyEventV2 = smallEvent()
      const first = await timed(() => handler(event, context))
      const replay = await timed(() => handler(smallEvent(replayKeys[library]), context))
      if (record) {
        samples.first[library].push(first)
        samples.replay[library].push(replay)
      }
    }
    const put = await timed(() =>
      clients.ours.client.send(
        new PutItemCommand({ TableName: clients.ours.tableName, Item: { id: { S: `put-${i}` } } }),
      ),
    )
    if (record) putItem.push(put)
  }
  return (['first', 'replay'] as const).map((phase) => ({
    phase,
    label: phase === 'first' ? 'first call' : 'replay',
    ours: summarize(samples[phase].ours),
    powertools: summarize(samples[phase].powertools),
    putItem: summarize(putItem),
  }))
}
