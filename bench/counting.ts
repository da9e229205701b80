import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'

/** Requests a client sent, in total and by command. */
export interface RequestCounter {
  total: number
  byCommand: Record<string, number>
  reset(): void
}

/**
 * Counts every request a client sends, with a middleware on its `middlewareStack` at the
 * `initialize` step: one count per `send`, before retries, whatever the library does with it.
 */
export const countRequests = (client: DynamoDBClient): RequestCounter => {
  const counter: RequestCounter = {
    total: 0,
    byCommand: {},
    reset() {
      counter.total = 0
      counter.byCommand = {}
    },
  }
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = String(context.commandName ?? 'unknown').replace(/Command$/, '')
      counter.total++
      counter.byCommand[command] = (counter.byCommand[command] ?? 0) + 1
      return next(args)
    },
    { step: 'initialize', name: 'benchCountRequests', priority: 'high' },
  )
  return counter
}
