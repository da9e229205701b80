import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib'
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway'
import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2'
import { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers'
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations'
import type { IAlarmAction } from 'aws-cdk-lib/aws-cloudwatch'
import { AttributeType, BillingMode, StreamViewType, Table } from 'aws-cdk-lib/aws-dynamodb'
import { StartingPosition } from 'aws-cdk-lib/aws-lambda'
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources'
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs'
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs'
import type { Construct } from 'constructs'
import { IdempotencyTable } from '../src/cdk.js'
import { functionTimeoutSeconds } from './function-timeouts.js'
import { PaymentsAlarms } from './payments-alarms.js'
import { SampleFunction } from './sample-function.js'

/** Properties of {@link PaymentsStack}. */
export interface PaymentsStackProps extends StackProps {
  /** Steady-state requests per second the API accepts before answering 429. @default 50 */
  throttleRateLimit?: number
  /** Requests the API accepts in a burst. @default 100 */
  throttleBurstLimit?: number
  /**
   * The issuer of the JWTs that `POST /payments` requires, e.g. a Cognito user pool's
   * `https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc`. With it, the route has a JWT
   * authorizer, `idempotent()` scopes keys to the token's issuer and `sub`, and the customer of a
   * payment is the `sub`. `infra/app.ts` reads it from the context `jwtIssuer`.
   * @default none: the API is open (anyone may call it, as any customer)
   */
  jwtIssuer?: string
  /** The audiences (client ids) the JWT authorizer accepts; required with `jwtIssuer`. @default none */
  jwtAudience?: string[]
  /** What every alarm does when it fires, e.g. `new SnsAction(topic)`. @default none */
  alarmActions?: IAlarmAction[]
}

// The consumer's timeout and its event source's batching window. The queue's visibility timeout is
// six times the timeout plus the window, as AWS recommends for a Lambda event source, so a batch
// that is still being retried is not handed to a second consumer.
const consumerTimeout = Duration.seconds(functionTimeoutSeconds.OrderConsumer)
const consumerBatchingWindow = Duration.seconds(1)

/**
 * The order consumer's concurrency ceiling (the event source's `maxConcurrency`, 2 is the least
 * AWS allows): a burst of orders cannot take the account's concurrency from the payment API.
 */
export const CONSUMER_MAX_CONCURRENCY = 5

/**
 * The sample payment system: `POST /payments` on an HTTP API charges once per `Idempotency-Key`
 * and saves the payment with its `order_paid` event; the outbox relay sends that event from the
 * payments table's stream to a queue; the order consumer creates one order per event.
 *
 * @example
 * new PaymentsStack(app, 'LambdaIdempotencySample')
 */
export class PaymentsStack extends Stack {
  constructor(scope: Construct, id: string, props: PaymentsStackProps = {}) {
    super(scope, id, props)

    // Every table of the sample is destroyed with the stack: it holds demo data only. Keep the
    // default (RETAIN) for an idempotency table in production.
    const idempotency = new IdempotencyTable(this, 'Idempotency', { removalPolicy: RemovalPolicy.DESTROY })
    // The payment rows carry their order_paid event: the stream is the outbox the relay reads.
    const payments = sampleTable(this, 'Payments', 'paymentId', StreamViewType.NEW_IMAGE)
    // The receipt sender reads new orders from the table's stream.
    const orders = sampleTable(this, 'Orders', 'orderId', StreamViewType.NEW_IMAGE)
    const stock = sampleTable(this, 'Stock', 'sku')

    const deadLetters = deadLetterQueue(this, 'OrderEventsDeadLetters')
    const orderEvents = new Queue(this, 'OrderEvents', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(
        consumerTimeout.toSeconds() * 6 + consumerBatchingWindow.toSeconds(),
      ),
      deadLetterQueue: { queue: deadLetters, maxReceiveCount: 5 },
    })

    const payment = new SampleFunction(this, 'Payment', {
      entry: 'infra/functions/payment.ts',
      timeout: Duration.seconds(functionTimeoutSeconds.Payment),
      environment: {
        IDEMPOTENCY_TABLE: idempotency.tableName,
        PAYMENTS_TABLE: payments.tableName,
      },
    })
    idempotency.grantIdempotency(payment)
    // PutItem saves the payment with its event; GetItem reads the saved one when a re-run finds it.
    payments.grants.actions(payment, 'dynamodb:PutItem', 'dynamodb:GetItem')

    // Records the outbox relay gave up on (after its retries) land here, with the stream position
    // to read them again: a stream has no redrive of its own.
    const outboxFailures = deadLetterQueue(
      this,
      'PaymentOutboxFailures',
      'the payments stream mapping (records the outbox relay gave up on)',
    )
    const outbox = new SampleFunction(this, 'PaymentOutbox', {
      entry: 'infra/functions/payment-outbox.ts',
      timeout: Duration.seconds(functionTimeoutSeconds.PaymentOutbox),
      environment: {
        IDEMPOTENCY_TABLE: idempotency.tableName,
        ORDER_EVENTS_QUEUE_URL: orderEvents.queueUrl,
      },
    })
    idempotency.grantIdempotency(outbox)
    orderEvents.grant(outbox, 'sqs:SendMessage')
    outbox.function.addEventSource(
      new DynamoEventSource(payments, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: 10,
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        retryAttempts: 10,
        // Past the stream's own 24 hours: a record is retried for as long as the stream keeps it.
        maxRecordAge: Duration.hours(24),
        onFailure: new SqsDlq(outboxFailures),
      }),
    )

    const consumer = new SampleFunction(this, 'OrderConsumer', {
      entry: 'infra/functions/order-consumer.ts',
      timeout: consumerTimeout,
      environment: {
        IDEMPOTENCY_TABLE: idempotency.tableName,
        ORDERS_TABLE: orders.tableName,
        STOCK_TABLE: stock.tableName,
      },
    })
    idempotency.grantIdempotency(consumer)
    // TransactWriteItems is authorised per item: a Put on orders, an Update on stock.
    orders.grants.actions(consumer, 'dynamodb:PutItem')
    stock.grants.actions(consumer, 'dynamodb:UpdateItem')
    // The mapping by hand rather than SqsEventSource, whose grant adds sqs:ChangeMessageVisibility
    // and sqs:GetQueueUrl: the mapping only receives, deletes and reads the queue's attributes.
    consumer.function.addEventSourceMapping('OrderEventsSource', {
      eventSourceArn: orderEvents.queueArn,
      batchSize: 10,
      maxBatchingWindow: consumerBatchingWindow,
      reportBatchItemFailures: true,
      maxConcurrency: CONSUMER_MAX_CONCURRENCY,
    })
    orderEvents.grant(consumer, 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes')
    Validations.of(consumer.function).acknowledge({
      id: 'Serverless-LambdaEventSourceMappingDestination',
      reason:
        "An SQS event source mapping has no on-failure destination: the queue's redrive policy (maxReceiveCount 5) moves what fails to the OrderEventsDeadLetters queue.",
    })

    // Stream records the receipt sender gave up on (after its retries) land here, for a look and a
    // replay by hand: a stream has no redrive of its own.
    const receiptFailures = deadLetterQueue(
      this,
      'OrderReceiptFailures',
      'the orders stream mapping (records the receipt sender gave up on)',
    )
    const receipts = new SampleFunction(this, 'OrderReceipts', {
      entry: 'infra/functions/order-receipts.ts',
      timeout: Duration.seconds(functionTimeoutSeconds.OrderReceipts),
      environment: { IDEMPOTENCY_TABLE: idempotency.tableName },
    })
    idempotency.grantIdempotency(receipts)
    receipts.function.addEventSource(
      new DynamoEventSource(orders, {
        startingPosition: StartingPosition.TRIM_HORIZON,
        batchSize: 10,
        // Retries start from the lowest reported record; a batch that fails whole is split in two
        // to isolate a poison record; after the retries its records go to the queue above.
        reportBatchItemFailures: true,
        bisectBatchOnError: true,
        retryAttempts: 5,
        maxRecordAge: Duration.hours(24),
        onFailure: new SqsDlq(receiptFailures),
      }),
    )

    const api = new HttpApi(this, 'PaymentsApi', {
      description: 'lambda-idempotency sample: POST /payments',
      createDefaultStage: false,
    })
    const accessLogs = new LogGroup(this, 'PaymentsApiAccessLogs', {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    })
    const stage = new HttpStage(this, 'PaymentsApiStage', {
      httpApi: api,
      stageName: '$default',
      autoDeploy: true,
      throttle: {
        rateLimit: props.throttleRateLimit ?? 50,
        burstLimit: props.throttleBurstLimit ?? 100,
      },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            requestTime: '$context.requestTime',
            routeKey: '$context.routeKey',
            status: '$context.status',
            responseLength: '$context.responseLength',
            integrationLatency: '$context.integrationLatency',
            integrationError: '$context.integrationErrorMessage',
          }),
        ),
      },
    })
    if (props.jwtIssuer !== undefined && (props.jwtAudience ?? []).length === 0) {
      throw new Error(
        `jwtAudience is required with jwtIssuer ${JSON.stringify(props.jwtIssuer)}: the client ids the API accepts`,
      )
    }
    const authorizer =
      props.jwtIssuer === undefined
        ? undefined
        : new HttpJwtAuthorizer('PaymentsJwt', props.jwtIssuer, { jwtAudience: props.jwtAudience ?? [] })
    const paymentRoutes = api.addRoutes({
      path: '/payments',
      methods: [HttpMethod.POST],
      integration: new HttpLambdaIntegration('PaymentIntegration', payment.function),
      authorizer,
    })

    if (authorizer === undefined) {
      for (const route of paymentRoutes) {
        Validations.of(route).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason:
            'The sample API is open (no jwtIssuer given) so that it can be tried with curl. Pass the context jwtIssuer and jwtAudience to require a JWT: idempotent() then scopes each key to the caller and the customer is the JWT sub.',
        })
      }
    }
    // HTTP APIs have no X-Ray tracing (REST APIs do); the functions trace from their invocation on.
    Validations.of(stage).acknowledge({
      id: 'Serverless-APIGWXrayEnabled',
      reason:
        'An HTTP API stage cannot enable X-Ray tracing (only REST API stages can); every function traces with X-Ray active tracing.',
    })

    new PaymentsAlarms(this, 'Alarms', {
      functions: {
        Payment: payment.function,
        PaymentOutbox: outbox.function,
        OrderConsumer: consumer.function,
        OrderReceipts: receipts.function,
      },
      deadLetterQueues: {
        OrderEventsDeadLetters: deadLetters,
        OrderReceiptFailures: receiptFailures,
        PaymentOutboxFailures: outboxFailures,
      },
      api,
      actions: props.alarmActions,
    })

    new CfnOutput(this, 'ApiUrl', { value: stage.url, description: 'POST {ApiUrl}payments' })
    new CfnOutput(this, 'StockTableName', {
      value: stock.tableName,
      description: 'put the SKUs to sell here',
    })
    new CfnOutput(this, 'OrderEventsDeadLetterQueueUrl', { value: deadLetters.queueUrl })
    new CfnOutput(this, 'OrderReceiptFailuresQueueUrl', { value: receiptFailures.queueUrl })
    new CfnOutput(this, 'PaymentOutboxFailuresQueueUrl', { value: outboxFailures.queueUrl })
  }
}

// A queue at the end of the line: a redrive target or a stream mapping's on-failure destination.
// Kept 14 days (the most SQS allows) for a look and a redrive by hand.
const deadLetterQueue = (scope: Construct, id: string, onFailureOf?: string): Queue => {
  const queue = new Queue(scope, id, {
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  })
  Validations.of(queue).acknowledge({
    id: 'Serverless-SQSRedrivePolicy',
    reason:
      'This queue is itself a dead-letter queue (or an on-failure destination): nothing consumes it, so nothing redrives from it.',
  })
  if (onFailureOf !== undefined) {
    Validations.of(queue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: `The queue is the on-failure destination of ${onFailureOf}, as a dead-letter queue is; cdk-nag only recognises redrive targets.`,
    })
  }
  return queue
}

const sampleTable = (scope: Construct, id: string, partitionKey: string, stream?: StreamViewType): Table =>
  new Table(scope, id, {
    partitionKey: { name: partitionKey, type: AttributeType.STRING },
    ...(stream === undefined ? {} : { stream }),
    billingMode: BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    removalPolicy: RemovalPolicy.DESTROY,
  })
