import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib'
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway'
import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination } from 'aws-cdk-lib/aws-apigatewayv2'
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations'
import { AttributeType, BillingMode, StreamViewType, Table } from 'aws-cdk-lib/aws-dynamodb'
import { StartingPosition } from 'aws-cdk-lib/aws-lambda'
import { DynamoEventSource, SqsDlq, SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources'
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs'
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs'
import type { Construct } from 'constructs'
import { IdempotencyTable } from '../src/cdk.js'
import { functionTimeoutSeconds } from './function-timeouts.js'
import { SampleFunction } from './sample-function.js'

/** Properties of {@link PaymentsStack}. */
export interface PaymentsStackProps extends StackProps {
  /** Steady-state requests per second the API accepts before answering 429. @default 50 */
  throttleRateLimit?: number
  /** Requests the API accepts in a burst. @default 100 */
  throttleBurstLimit?: number
}

// The consumer's timeout; the queue's visibility timeout is six times it, as AWS recommends, so a
// batch that is still being retried is not handed to a second consumer.
const consumerTimeout = Duration.seconds(functionTimeoutSeconds.OrderConsumer)

/**
 * The sample payment system: `POST /payments` on an HTTP API charges once per `Idempotency-Key`
 * and sends `order_paid` to a queue; the order consumer creates one order per event.
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
    const payments = sampleTable(this, 'Payments', 'paymentId')
    // The receipt sender reads new orders from the table's stream.
    const orders = sampleTable(this, 'Orders', 'orderId', StreamViewType.NEW_IMAGE)
    const stock = sampleTable(this, 'Stock', 'sku')

    const deadLetters = new Queue(this, 'OrderEventsDeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    })
    const orderEvents = new Queue(this, 'OrderEvents', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: Duration.seconds(consumerTimeout.toSeconds() * 6),
      deadLetterQueue: { queue: deadLetters, maxReceiveCount: 5 },
    })

    const payment = new SampleFunction(this, 'Payment', {
      entry: 'infra/functions/payment.ts',
      timeout: Duration.seconds(functionTimeoutSeconds.Payment),
      environment: {
        IDEMPOTENCY_TABLE: idempotency.tableName,
        PAYMENTS_TABLE: payments.tableName,
        ORDER_EVENTS_QUEUE_URL: orderEvents.queueUrl,
      },
    })
    idempotency.grantIdempotency(payment)
    payments.grants.actions(payment, 'dynamodb:PutItem')
    orderEvents.grant(payment, 'sqs:SendMessage')

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
    consumer.function.addEventSource(
      new SqsEventSource(orderEvents, {
        batchSize: 10,
        maxBatchingWindow: Duration.seconds(1),
        reportBatchItemFailures: true,
      }),
    )

    // Stream records the receipt sender gave up on (after its retries) land here, for a look and a
    // replay by hand: a stream has no redrive of its own.
    const receiptFailures = new Queue(this, 'OrderReceiptFailures', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    })
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
    Validations.of(receipts).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'dynamodb:ListStreams, granted by DynamoEventSource for the event source mapping, is a list action with no resource type: it only takes "*". The stream itself is read through actions scoped to its ARN.',
    })
    Validations.of(receiptFailures).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'The queue is the on-failure destination of the orders stream mapping: it receives the records the receipt sender gave up on, as a dead-letter queue does; cdk-nag only recognises redrive targets.',
    })

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
    const paymentRoutes = api.addRoutes({
      path: '/payments',
      methods: [HttpMethod.POST],
      integration: new HttpLambdaIntegration('PaymentIntegration', payment.function),
    })

    for (const route of paymentRoutes) {
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'The sample API is open so that it can be tried with curl. In production add a JWT authorizer: idempotent() then scopes each key to the caller (the JWT sub).',
      })
    }
    for (const fn of [payment, consumer, receipts]) {
      Validations.of(fn.function).acknowledge({
        id: 'AwsSolutions-L1',
        reason:
          'nodejs22.x on purpose: it is the runtime the library and its tests target (engines >=22, Node 22 toolchain). nodejs24.x also works.',
      })
    }

    new CfnOutput(this, 'ApiUrl', { value: stage.url, description: 'POST {ApiUrl}payments' })
    new CfnOutput(this, 'StockTableName', {
      value: stock.tableName,
      description: 'put the SKUs to sell here',
    })
    new CfnOutput(this, 'OrderEventsDeadLetterQueueUrl', { value: deadLetters.queueUrl })
    new CfnOutput(this, 'OrderReceiptFailuresQueueUrl', { value: receiptFailures.queueUrl })
  }
}

const sampleTable = (scope: Construct, id: string, partitionKey: string, stream?: StreamViewType): Table =>
  new Table(scope, id, {
    partitionKey: { name: partitionKey, type: AttributeType.STRING },
    ...(stream === undefined ? {} : { stream }),
    billingMode: BillingMode.PAY_PER_REQUEST,
    pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
    removalPolicy: RemovalPolicy.DESTROY,
  })
