import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { APIGatewayProxyEventV2 } from 'aws-lambda'
import type { RequestCounter } from './counting.js'
import { lambdaContext, smallEvent } from './events.js'
import { oursMiddleware } from './sides/ours.js'
import { createPayment, wrap } from './sides/payment.js'
import { powertoolsMiddleware } from './sides/powertools.js'
import { type Summary, summarize } from './stats.js'

export type Library = 'ours' | 'powertools'

/** Requests per invocation of one library in one phase. */
export interface RequestPhase {
  phase: 'first' | 'replay' | 'replay-cached'
  label: string
  ours: Summary
  powertools: Summary
  /** The commands of the last invocation measured, e.g. "PutItem + UpdateItem". */
  oursCommands: string
  powertoolsCommands: string
}

const describe = (byCommand: Record<string, number>): string =>
  Object.entries(byCommand)
    .map(([command, count]) => (count === 1 ? command : `${count} x ${command}`))
    .join(' + ') || 'none'

/**
 * DynamoDB requests per invocation against DynamoDB Local, counted by a middleware on each client's
 * `middlewareStack`: a first call (fresh key), a replay (same key, no local cache) and a replay from a
 * warm instance with the local cache on. Each phase is repeated `repetitions` times, alternating
 * libraries.
 */
export const measureRequests = async (
  clients: Record<Library, { client: DynamoDBClient; counter: RequestCounter; tableName: string }>,
  repetitions: number,
): Promise<RequestPhase[]> => {
  const context = lambdaContext()
  const make = (library: Library, localCache: boolean) => {
    const { client, tableName } = clients[library]
    const middleware =
      library === 'ours'
        ? oursMiddleware(client, tableName, 'header', { localCache })
        : powertoolsMiddleware(client, tableName, 'header', { localCache })
    const handler = wrap(createPayment, middleware)
    return (event: APIGatewayProxyEventV2) => handler(event, context)
  }
  const handlers = {
    ours: { plain: make('ours', false), cached: make('ours', true) },
    powertools: { plain: make('powertools', false), cached: make('powertools', true) },
  }
  const counts: Record<RequestPhase['phase'], Record<Library, number[]>> = {
    first: { ours: [], powertools: [] },
    replay: { ours: [], powertools: [] },
    'replay-cached': { ours: [], powertools: [] },
  }
  const commands: Record<RequestPhase['phase'], Record<Library, string>> = {
    first: { ours: '', powertools: '' },
    replay: { ours: '', powertools: '' },
    'replay-cached': { ours: '', powertools: '' },
  }
  const counted = async (library: Library, phase: RequestPhase['phase'], call: () => Promise<unknown>) => {
    const { counter } = clients[library]
    counter.reset()
    await call()
    counts[phase][library].push(counter.total)
    commands[phase][library] = describe(counter.byCommand)
  }
  for (let i = 0; i < repetitions; i++) {
    for (const library of i % 2 === 0
      ? (['ours', 'powertools'] as const)
      : (['powertools', 'ours'] as const)) {
      const key = crypto.randomUUID()
      const { plain, cached } = handlers[library]
      await counted(library, 'first', () => plain(smallEvent(key)))
      await counted(library, 'replay', () => plain(smallEvent(key)))
      const cachedKey = crypto.randomUUID()
      await cached(smallEvent(cachedKey)) // the first call on this warm instance fills its cache
      await counted(library, 'replay-cached', () => cached(smallEvent(cachedKey)))
    }
  }
  const labels = {
    first: 'first call',
    replay: 'replay',
    'replay-cached': 'replay, local cache on',
  }
  return (['first', 'replay', 'replay-cached'] as const).map((phase) => ({
    phase,
    label: labels[phase],
    ours: summarize(counts[phase].ours),
    powertools: summarize(counts[phase].powertools),
    oursCommands: commands[phase].ours,
    powertoolsCommands: commands[phase].powertools,
  }))
}
