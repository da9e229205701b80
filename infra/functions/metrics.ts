import type { IdempotencyEvent, IdempotencyOutcome } from '../../src/index.js'

/** The CloudWatch namespace the sample's idempotency metrics go to. */
export const METRICS_NAMESPACE = 'LambdaIdempotencySample'

/** Options of {@link emfMetrics}. */
export interface EmfMetricsOptions {
  /** The value of the `FunctionName` dimension, e.g. `process.env.AWS_LAMBDA_FUNCTION_NAME`. Required. */
  functionName: string
  /** @default 'LambdaIdempotencySample' */
  namespace?: string
  /**
   * Where a line goes. Lambda sends standard output to CloudWatch Logs, which extracts the metrics.
   * @default one line on `process.stdout`, bypassing `console` (whose prefix would hide the JSON)
   */
  write?: (line: string) => void
  /** The clock, epoch milliseconds. @default Date.now */
  now?: () => number
}

/**
 * The CloudWatch metric name of an outcome: `replayed` -> `IdempotencyReplayed`,
 * `in-progress` -> `IdempotencyInProgress`.
 *
 * @example
 * metricName('claim-failed') // 'IdempotencyClaimFailed'
 */
export const metricName = (outcome: IdempotencyOutcome): string =>
  `Idempotency${outcome
    .split('-')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('')}`

/**
 * One Embedded Metric Format document for one outcome: a `Count` of 1 under the outcome's metric
 * name, with the `FunctionName` dimension. Besides the metric it carries only the outcome and the
 * hashed record id (searchable with Logs Insights), never the raw key, the body or an error message.
 *
 * @example
 * emfDocument({ outcome: 'replayed', id: 'f3a1…' }, { functionName: 'Payment', namespace: 'Sample', timestamp: Date.now() })
 * // { _aws: { Timestamp, CloudWatchMetrics: [{ Namespace: 'Sample', Dimensions: [['FunctionName']], Metrics: [{ Name: 'IdempotencyReplayed', Unit: 'Count' }] }] }, FunctionName: 'Payment', IdempotencyReplayed: 1, ... }
 */
export const emfDocument = (
  event: IdempotencyEvent,
  target: { functionName: string; namespace: string; timestamp: number },
): Record<string, unknown> => {
  const name = metricName(event.outcome)
  return {
    _aws: {
      Timestamp: target.timestamp,
      CloudWatchMetrics: [
        {
          Namespace: target.namespace,
          Dimensions: [['FunctionName']],
          Metrics: [{ Name: name, Unit: 'Count' }],
        },
      ],
    },
    FunctionName: target.functionName,
    [name]: 1,
    outcome: event.outcome,
    idempotencyId: event.id,
    ...(event.cached === undefined ? {} : { cached: event.cached }),
    ...(event.step === undefined ? {} : { step: event.step }),
  }
}

/**
 * Local runs only: listeners that hear every outcome the sample functions report, after its metric
 * line. Empty in AWS; the local page's timeline subscribes (see `infra/local/local-sample.ts`).
 *
 * @example
 * outcomeListeners.add((event, functionName) => timeline.push({ functionName, ...event }))
 */
export const outcomeListeners = new Set<(event: IdempotencyEvent, functionName: string) => void>()

/** A named point of a sample function's work where the local chaos run may end an invocation. */
export type Checkpoint = 'after-effect'

/**
 * Local runs only: listeners that hear the named points the sample functions pass. Empty in AWS;
 * the local runner ends an invocation there to show the crash windows (see `infra/local/chaos.ts`).
 *
 * @example
 * checkpointListeners.add((point) => console.log('passed', point))
 */
export const checkpointListeners = new Set<(point: Checkpoint) => void>()

/**
 * Marks a named point of the work: `after-effect` right after the function's side effect.
 *
 * @example
 * await dynamodb.send(new TransactWriteCommand(...)); checkpoint('after-effect')
 */
export const checkpoint = (point: Checkpoint): void => {
  for (const listener of checkpointListeners) listener(point)
}

/**
 * An `onEvent` hook that writes one EMF line per outcome, so CloudWatch counts claims, replays,
 * 409s, mismatches, fenced writes and store failures per function without an agent or a
 * dependency.
 *
 * @example
 * idempotent({ store, onEvent: emfMetrics({ functionName: process.env.AWS_LAMBDA_FUNCTION_NAME || 'Payment' }) })
 */
export const emfMetrics = (options: EmfMetricsOptions): ((event: IdempotencyEvent) => void) => {
  const namespace = options.namespace ?? METRICS_NAMESPACE
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`))
  const now = options.now ?? Date.now
  return (event) => {
    write(
      JSON.stringify(emfDocument(event, { functionName: options.functionName, namespace, timestamp: now() })),
    )
    for (const listener of outcomeListeners) listener(event, options.functionName)
  }
}
