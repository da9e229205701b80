import { Duration } from 'aws-cdk-lib'
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2'
import {
  Alarm,
  ComparisonOperator,
  type IAlarmAction,
  type IMetric,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch'
import type { IFunction } from 'aws-cdk-lib/aws-lambda'
import type { IQueue } from 'aws-cdk-lib/aws-sqs'
import { Construct } from 'constructs'
import { METRICS_NAMESPACE, metricName } from './functions/metrics.js'

/** Properties of {@link PaymentsAlarms}. */
export interface PaymentsAlarmsProps {
  /** The functions whose errors, throttles and idempotency outcomes are watched, by construct id. */
  functions: Record<string, IFunction>
  /** Dead-letter queues and on-failure destinations: any message in one is an alarm. */
  deadLetterQueues: Record<string, IQueue>
  /** The API whose 5xx answers are watched. */
  api: IHttpApi
  /** What an alarm does when it fires, e.g. an `SnsAction`. @default none (the alarm state only) */
  actions?: IAlarmAction[]
}

/**
 * The idempotency outcomes that mean something needs a look: a result that could not be stored
 * (retries get a 500), a late invocation whose write was refused, a record that disappeared under
 * a running invocation, and store failures at completion or release.
 */
export const ALARMED_OUTCOMES = ['not-stored', 'fenced', 'lost', 'complete-failed', 'release-failed'] as const

const period = Duration.minutes(5)

/**
 * The sample's alarms, each firing on the first occurrence in five minutes (a payment path has no
 * normal level of errors): messages in a dead-letter queue, errors and throttles per function, 5xx
 * answers of the API, and the idempotency outcomes of {@link ALARMED_OUTCOMES}, summed over the
 * functions from the EMF metrics they write (`infra/functions/metrics.ts`).
 *
 * @example
 * new PaymentsAlarms(this, 'Alarms', { functions: { Payment: payment.function }, deadLetterQueues: { OrderEventsDeadLetters: dlq }, api })
 */
export class PaymentsAlarms extends Construct {
  /** Every alarm, to add actions or a dashboard. */
  readonly alarms: Alarm[] = []

  constructor(scope: Construct, id: string, props: PaymentsAlarmsProps) {
    super(scope, id)
    const alarm = (alarmId: string, metric: IMetric, description: string) => {
      const created = new Alarm(this, alarmId, {
        metric,
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        // No data means nothing happened: no errors, no messages, no outcomes.
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: description,
      })
      for (const action of props.actions ?? []) created.addAlarmAction(action)
      this.alarms.push(created)
    }

    for (const [queueId, queue] of Object.entries(props.deadLetterQueues)) {
      alarm(
        `${queueId}Messages`,
        queue.metricApproximateNumberOfMessagesVisible({ period, statistic: 'Maximum' }),
        `${queueId} holds messages that were given up on: look at them, fix the cause, redrive`,
      )
    }
    for (const [functionId, fn] of Object.entries(props.functions)) {
      alarm(`${functionId}Errors`, fn.metricErrors({ period, statistic: 'Sum' }), `${functionId} failed`)
      alarm(
        `${functionId}Throttles`,
        fn.metricThrottles({ period, statistic: 'Sum' }),
        `${functionId} was throttled: check reserved and account concurrency`,
      )
    }
    alarm(
      'ApiServerErrors',
      props.api.metricServerError({ period, statistic: 'Sum' }),
      'the API answered 5xx',
    )

    const functions = Object.values(props.functions)
    for (const outcome of ALARMED_OUTCOMES) {
      const name = metricName(outcome)
      // One metric per function (the FunctionName dimension the EMF lines carry), summed.
      const usingMetrics: Record<string, IMetric> = {}
      for (const [index, fn] of functions.entries()) {
        usingMetrics[`m${index}`] = new Metric({
          namespace: METRICS_NAMESPACE,
          metricName: name,
          dimensionsMap: { FunctionName: fn.functionName },
          statistic: 'Sum',
          period,
        })
      }
      alarm(
        name,
        new MathExpression({
          expression: Object.keys(usingMetrics)
            .map((key) => `FILL(${key}, 0)`)
            .join(' + '),
          usingMetrics,
          period,
          label: name,
        }),
        `idempotency outcome ${outcome}: see the README's failure modes`,
      )
    }
  }
}
