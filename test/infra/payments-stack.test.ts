import { Stack, Validations } from 'aws-cdk-lib'
import { Match, Template } from 'aws-cdk-lib/assertions'
import { InlineCode, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda'
import { Queue } from 'aws-cdk-lib/aws-sqs'
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag'
import { beforeAll, describe, expect, it } from 'vitest'
import { ALARMED_OUTCOMES } from '../../infra/payments-alarms.js'
import { CONSUMER_MAX_CONCURRENCY, PaymentsStack } from '../../infra/payments-stack.js'
import { testApp } from './cdk-app.js'

interface Statement {
  Effect: string
  Action: string | string[]
  Resource: unknown
}

let stack: Stack
let template: Template

beforeAll(() => {
  stack = new PaymentsStack(testApp(), 'Sample')
  template = Template.fromStack(stack)
}, 120_000)

const logicalId = (path: string): string => {
  const child = stack.node.findAll().find((node) => node.node.path === `Sample/${path}`)
  if (child === undefined) throw new Error(`no construct at Sample/${path}`)
  return stack.getLogicalId(child as never)
}

/** Every statement of every inline policy of a function's role, by the resource it is about. */
const roleStatements = (functionId: string): Statement[] => {
  const roleId = logicalId(`${functionId}/Role/Resource`)
  return Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((policy) => JSON.stringify(policy.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap((policy) => policy.Properties.PolicyDocument.Statement as Statement[])
}

const actionsOn = (statements: Statement[], resourceId: string): string[] =>
  statements
    .filter(
      (statement) =>
        JSON.stringify(statement.Resource) === JSON.stringify({ 'Fn::GetAtt': [resourceId, 'Arn'] }),
    )
    .flatMap((statement) => [statement.Action].flat())
    .sort()

describe('PaymentsStack', { timeout: 120_000 }, () => {
  it('runs every function on nodejs22.x, arm64, with X-Ray tracing, JSON logs in a log group with retention and source maps', () => {
    const functions = template.findResources('AWS::Lambda::Function')
    expect(Object.keys(functions)).toHaveLength(4)
    for (const fn of Object.values(functions)) {
      expect(fn.Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        TracingConfig: { Mode: 'Active' },
        LoggingConfig: { LogFormat: 'JSON' },
        Environment: { Variables: { NODE_OPTIONS: '--enable-source-maps' } },
      })
    }
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 })
  })

  it('merges each function environment with the defaults instead of replacing them', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          NODE_OPTIONS: '--enable-source-maps',
          IDEMPOTENCY_TABLE: { Ref: Match.anyValue() },
          PAYMENTS_TABLE: { Ref: Match.anyValue() },
        },
      },
    })
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          NODE_OPTIONS: '--enable-source-maps',
          IDEMPOTENCY_TABLE: { Ref: Match.anyValue() },
          ORDER_EVENTS_QUEUE_URL: { Ref: Match.anyValue() },
        },
      },
    })
  })

  it('gives the idempotency table its TTL attribute', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
      BillingMode: 'PAY_PER_REQUEST',
    })
  })

  it('turns on point-in-time recovery for every table', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 4)
    template.allResourcesProperties('AWS::DynamoDB::Table', {
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    })
  })

  it('reports batch item failures from the order consumer event source and caps its concurrency', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId('OrderConsumer/Function/Resource') },
      EventSourceArn: { 'Fn::GetAtt': [logicalId('OrderEvents/Resource'), 'Arn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      // The consumer cannot take more than this from the account's concurrency, which the API shares.
      ScalingConfig: { MaximumConcurrency: CONSUMER_MAX_CONCURRENCY },
    })
    expect(CONSUMER_MAX_CONCURRENCY).toBeGreaterThanOrEqual(2)
  })

  it('redrives the order events queue to a dead-letter queue', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [logicalId('OrderEventsDeadLetters/Resource'), 'Arn'] },
        maxReceiveCount: 5,
      },
    })
  })

  it('sets the visibility timeout to at least six times the consumer timeout plus the batching window', () => {
    const consumer =
      template.findResources('AWS::Lambda::Function')[logicalId('OrderConsumer/Function/Resource')]
    const queue = template.findResources('AWS::SQS::Queue')[logicalId('OrderEvents/Resource')]
    const mapping = Object.values(template.findResources('AWS::Lambda::EventSourceMapping')).find(
      (resource) => resource.Properties.FunctionName.Ref === logicalId('OrderConsumer/Function/Resource'),
    )
    const window = mapping?.Properties.MaximumBatchingWindowInSeconds
    expect(consumer?.Properties.Timeout).toBeGreaterThan(0)
    expect(window).toBeGreaterThan(0)
    expect(queue?.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(
      6 * consumer?.Properties.Timeout + window,
    )
  })

  it('enforces SSL and encryption on every queue', () => {
    template.allResourcesProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true })
    for (const queue of [
      'OrderEvents',
      'OrderEventsDeadLetters',
      'OrderReceiptFailures',
      'PaymentOutboxFailures',
    ]) {
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: logicalId(`${queue}/Resource`) }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 'sqs:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      })
    }
  })

  const IDEMPOTENCY_ACTIONS = [
    'dynamodb:DeleteItem',
    'dynamodb:GetItem',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
  ]
  const LOG_ACTIONS = ['logs:CreateLogStream', 'logs:PutLogEvents']
  const TRACE_ACTIONS = ['xray:PutTelemetryRecords', 'xray:PutTraceSegments']
  const tracing = (statements: Statement[]) =>
    statements
      .filter((statement) => statement.Resource === '*')
      .flatMap((statement) => [statement.Action].flat())
      .sort()

  it('grants the payment function exactly the actions it uses, resource by resource', () => {
    const statements = roleStatements('Payment')
    expect(actionsOn(statements, logicalId('Idempotency/Table/Resource'))).toEqual(IDEMPOTENCY_ACTIONS)
    // PutItem saves the payment with its event, GetItem reads the saved one back: no SQS any more.
    expect(actionsOn(statements, logicalId('Payments/Resource'))).toEqual([
      'dynamodb:GetItem',
      'dynamodb:PutItem',
    ])
    expect(actionsOn(statements, logicalId('OrderEvents/Resource'))).toEqual([])
    expect(actionsOn(statements, logicalId('Payment/Logs/Resource'))).toEqual(LOG_ACTIONS)
    expect(tracing(statements)).toEqual(TRACE_ACTIONS)
    expect(statements).toHaveLength(4)
  })

  it('grants the order consumer exactly the actions it uses, resource by resource', () => {
    const statements = roleStatements('OrderConsumer')
    expect(actionsOn(statements, logicalId('Idempotency/Table/Resource'))).toEqual(IDEMPOTENCY_ACTIONS)
    expect(actionsOn(statements, logicalId('Orders/Resource'))).toEqual(['dynamodb:PutItem'])
    expect(actionsOn(statements, logicalId('Stock/Resource'))).toEqual(['dynamodb:UpdateItem'])
    // What the event source mapping needs to poll the queue, and no more (no ChangeMessageVisibility,
    // no GetQueueUrl).
    expect(actionsOn(statements, logicalId('OrderEvents/Resource'))).toEqual([
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'sqs:ReceiveMessage',
    ])
    expect(actionsOn(statements, logicalId('OrderConsumer/Logs/Resource'))).toEqual(LOG_ACTIONS)
    expect(tracing(statements)).toEqual(TRACE_ACTIONS)
    expect(statements).toHaveLength(6)
  })

  it('grants the outbox relay the idempotency table, sending to the queue and its failure queue, and reading the stream', () => {
    const statements = roleStatements('PaymentOutbox')
    expect(actionsOn(statements, logicalId('Idempotency/Table/Resource'))).toEqual(IDEMPOTENCY_ACTIONS)
    expect(actionsOn(statements, logicalId('OrderEvents/Resource'))).toEqual(['sqs:SendMessage'])
    expect(actionsOn(statements, logicalId('PaymentOutboxFailures/Resource'))).toEqual(
      expect.arrayContaining(['sqs:SendMessage']),
    )
    const onStream = statements
      .filter(
        (statement) =>
          JSON.stringify(statement.Resource) ===
          JSON.stringify({ 'Fn::GetAtt': [logicalId('Payments/Resource'), 'StreamArn'] }),
      )
      .flatMap((statement) => [statement.Action].flat())
    expect(onStream).toEqual(expect.arrayContaining(['dynamodb:GetRecords', 'dynamodb:GetShardIterator']))
    // Never the table itself: the relay reads the stream only.
    expect(actionsOn(statements, logicalId('Payments/Resource'))).toEqual([])
  })

  it('uses no wildcard action or resource in any role policy and no managed policy', () => {
    for (const policy of Object.values(template.findResources('AWS::IAM::Policy'))) {
      for (const statement of policy.Properties.PolicyDocument.Statement as Statement[]) {
        for (const action of [statement.Action].flat()) expect(action).not.toContain('*')
        // Actions without a resource type: the stream mappings' ListStreams and X-Ray's trace upload.
        const unscoped = ['dynamodb:ListStreams', 'xray:PutTraceSegments', 'xray:PutTelemetryRecords']
        if ([statement.Action].flat().every((action) => unscoped.includes(action))) continue
        expect(JSON.stringify(statement.Resource)).not.toContain('"*"')
      }
    }
    for (const role of Object.values(template.findResources('AWS::IAM::Role'))) {
      expect(role.Properties.ManagedPolicyArns).toBeUndefined()
    }
  })

  it('throttles the API and writes access logs', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
      AccessLogSettings: {
        DestinationArn: { 'Fn::GetAtt': [logicalId('PaymentsApiAccessLogs/Resource'), 'Arn'] },
        Format: Match.stringLikeRegexp('\\$context.requestId'),
      },
    })
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /payments' })
  })

  it('feeds the receipt sender from the orders stream with partial batch responses, bisection, retries and an on-failure queue', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'orderId', KeyType: 'HASH' }],
      StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
    })
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId('OrderReceipts/Function/Resource') },
      EventSourceArn: { 'Fn::GetAtt': [logicalId('Orders/Resource'), 'StreamArn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: 5,
      StartingPosition: 'TRIM_HORIZON',
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [logicalId('OrderReceiptFailures/Resource'), 'Arn'] } },
      },
    })
  })

  it('feeds the outbox relay from the payments stream with partial batch responses, bisection, retries and an on-failure queue', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [{ AttributeName: 'paymentId', KeyType: 'HASH' }],
      StreamSpecification: { StreamViewType: 'NEW_IMAGE' },
    })
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      FunctionName: { Ref: logicalId('PaymentOutbox/Function/Resource') },
      EventSourceArn: { 'Fn::GetAtt': [logicalId('Payments/Resource'), 'StreamArn'] },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      BisectBatchOnFunctionError: true,
      MaximumRetryAttempts: Match.anyValue(),
      StartingPosition: 'TRIM_HORIZON',
      DestinationConfig: {
        OnFailure: { Destination: { 'Fn::GetAtt': [logicalId('PaymentOutboxFailures/Resource'), 'Arn'] } },
      },
    })
  })

  const alarmsOn = (metricName: string) =>
    Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
      (alarm) => alarm.Properties.MetricName === metricName,
    )

  it('alarms on the first message in each dead-letter queue or on-failure queue', () => {
    const queues = alarmsOn('ApproximateNumberOfMessagesVisible').map(
      (alarm) => alarm.Properties.Dimensions[0].Value['Fn::GetAtt'][0],
    )
    expect(queues.sort()).toEqual(
      ['OrderEventsDeadLetters', 'OrderReceiptFailures', 'PaymentOutboxFailures']
        .map((id) => logicalId(`${id}/Resource`))
        .sort(),
    )
    for (const alarm of alarmsOn('ApproximateNumberOfMessagesVisible')) {
      expect(alarm.Properties).toMatchObject({
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      })
    }
  })

  it('alarms on errors and throttles of every function and on 5xx answers of the API', () => {
    const functions = ['Payment', 'PaymentOutbox', 'OrderConsumer', 'OrderReceipts'].map((id) =>
      logicalId(`${id}/Function/Resource`),
    )
    for (const metric of ['Errors', 'Throttles']) {
      const watched = alarmsOn(metric).map((alarm) => alarm.Properties.Dimensions[0].Value.Ref)
      expect(watched.sort()).toEqual([...functions].sort())
    }
    const api = alarmsOn('5xx')
    expect(api).toHaveLength(1)
    expect(api[0]?.Properties).toMatchObject({ Namespace: 'AWS/ApiGateway', Statistic: 'Sum', Threshold: 1 })
  })

  it('alarms on the idempotency outcomes that need a look, summed over every function from the EMF namespace', () => {
    const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
      (alarm) => alarm.Properties.Metrics !== undefined,
    )
    const names = alarms.map(
      (alarm) =>
        (alarm.Properties.Metrics as { Id: string; Label?: string; Expression?: string }[]).find(
          (metric) => metric.Expression !== undefined,
        )?.Label,
    )
    expect(names.sort()).toEqual(
      [
        'IdempotencyNotStored',
        'IdempotencyFenced',
        'IdempotencyLost',
        'IdempotencyCompleteFailed',
        'IdempotencyReleaseFailed',
      ].sort(),
    )
    expect(ALARMED_OUTCOMES).toEqual(expect.arrayContaining(['not-stored', 'fenced', 'lost']))
    for (const alarm of alarms) {
      const metrics = alarm.Properties.Metrics as { MetricStat?: { Metric: Record<string, unknown> } }[]
      const watched = metrics.filter((metric) => metric.MetricStat !== undefined)
      expect(watched).toHaveLength(4)
      for (const metric of watched) {
        expect(metric.MetricStat?.Metric).toMatchObject({
          Namespace: 'LambdaIdempotencySample',
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: expect.any(String) } }],
        })
      }
    }
  })

  it('leaves the API open by default and requires a JWT of the given issuer and audience when asked', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { AuthorizationType: 'NONE' })
    template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 0)

    const closed = Template.fromStack(
      new PaymentsStack(testApp(), 'Closed', {
        jwtIssuer: 'https://issuer.example.com',
        jwtAudience: ['client-1'],
      }),
    )
    closed.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      AuthorizerType: 'JWT',
      JwtConfiguration: { Issuer: 'https://issuer.example.com', Audience: ['client-1'] },
      IdentitySource: ['$request.header.Authorization'],
    })
    closed.hasResourceProperties('AWS::ApiGatewayV2::Route', {
      RouteKey: 'POST /payments',
      AuthorizationType: 'JWT',
    })
    expect(
      () => new PaymentsStack(testApp(), 'NoAudience', { jwtIssuer: 'https://issuer.example.com' }),
    ).toThrow(/jwtAudience is required/)
  })

  it('passes the cdk-nag AwsSolutions and Serverless checks with every finding acknowledged with a reason', () => {
    const app = testApp()
    new PaymentsStack(app, 'Checked')
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app))
    expect(() => app.synth()).not.toThrow()

    // The same wiring fails synthesis on a finding nobody acknowledged: the checks above are live.
    const control = testApp()
    new Queue(new Stack(control, 'Control'), 'PlainQueue')
    Validations.of(control).addPlugins(new AwsSolutionsChecks(control))
    expect(() => control.synth()).toThrow(/AwsSolutions-SQS4/)

    const serverless = testApp()
    new LambdaFunction(new Stack(serverless, 'Control'), 'Untraced', {
      runtime: Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: new InlineCode('export const handler = async () => {}'),
    })
    Validations.of(serverless).addPlugins(new ServerlessChecks(serverless))
    expect(() => serverless.synth()).toThrow(/Serverless-LambdaTracing/)
  })

  it('passes both packs with the JWT authorizer too, without the open-API acknowledgement', () => {
    const app = testApp()
    new PaymentsStack(app, 'CheckedClosed', {
      jwtIssuer: 'https://issuer.example.com',
      jwtAudience: ['client-1'],
    })
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app))
    expect(() => app.synth()).not.toThrow()
  })
})
