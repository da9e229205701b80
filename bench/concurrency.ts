import { setTimeout as sleep } from 'node:timers/promises'
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import type { APIGatewayProxyEventV2 } from 'aws-lambda'
import { lambdaContext, smallEvent } from './events.js'
import type { Library } from './requests.js'
import { oursMiddleware } from './sides/ours.js'
import { createPayment, wrap } from './sides/payment.js'
import { powertoolsMiddleware } from './sides/powertools.js'

/** What the concurrent duplicates of one trial got. */
export interface Trial {
  executions: number
  /** Answers with a 2xx status (the first call's response or a replay of it). */
  succeeded: number
  /** 409 answers (ours) or `IdempotencyAlreadyInProgressError` thrown (Powertools). */
  inProgress: number
  /** Anything else: other statuses or errors, by name. */
  other: Record<string, number>
}

export interface ConcurrencyResult {
  duplicates: number
  trials: number
  handlerMs: number
  ours: Trial[]
  powertools: Trial[]
}

/**
 * `duplicates` identical requests (same Idempotency-Key, same body) started at once through each
 * library's Middy middleware against DynamoDB Local; the handler takes `handlerMs`, so the duplicates
 * arrive while the first call is in progress. Trials alternate between the libraries.
 */
export const measureConcurrency = async (
  clients: Record<Library, { client: DynamoDBClient; tableName: string }>,
  options: { duplicates: number; trials: number; handlerMs: number },
): Promise<ConcurrencyResult> => {
  const context = lambdaContext()
  let executions = 0
  const work = async (event: APIGatewayProxyEventV2) => {
    executions++
    await sleep(options.handlerMs)
    return createPayment(event)
  }
  const handlers = {
    ours: wrap(work, oursMiddleware(clients.ours.client, clients.ours.tableName, 'header')),
    powertools: wrap(
      work,
      powertoolsMiddleware(clients.powertools.client, clients.powertools.tableName, 'header'),
    ),
  }
  const result: ConcurrencyResult = { ...options, ours: [], powertools: [] }
  for (let trial = 0; trial < options.trials; trial++) {
    for (const library of trial % 2 === 0
      ? (['ours', 'powertools'] as const)
      : (['powertools', 'ours'] as const)) {
      const key = crypto.randomUUID()
      executions = 0
      const outcomes = await Promise.allSettled(
        Array.from({ length: options.duplicates }, () => handlers[library](smallEvent(key), context)),
      )
      const summary: Trial = { executions, succeeded: 0, inProgress: 0, other: {} }
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') {
          const name = (outcome.reason as Error)?.name ?? String(outcome.reason)
          if (name === 'IdempotencyAlreadyInProgressError') summary.inProgress++
          else summary.other[name] = (summary.other[name] ?? 0) + 1
          continue
        }
        const status = (outcome.value as { statusCode?: number })?.statusCode ?? 200
        if (status >= 200 && status < 300) summary.succeeded++
        else if (status === 409) summary.inProgress++
        else summary.other[`HTTP ${status}`] = (summary.other[`HTTP ${status}`] ?? 0) + 1
      }
      result[library].push(summary)
    }
  }
  return result
}
