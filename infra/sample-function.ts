import { fileURLToPath } from 'node:url'
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib'
import {
  type IGrantable,
  type IPrincipal,
  PolicyStatement,
  Role,
  ServicePrincipal,
} from 'aws-cdk-lib/aws-iam'
import {
  ApplicationLogLevel,
  Architecture,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
  Tracing,
} from 'aws-cdk-lib/aws-lambda'
import { LogLevel, NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs'
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs'
import { Construct } from 'constructs'

/** Properties of {@link SampleFunction}. */
export interface SampleFunctionProps {
  /** The handler's source file, relative to the repository root, e.g. `infra/functions/payment.ts`. */
  entry: string
  /** @default 'handler' */
  handler?: string
  /** @default Duration.seconds(10) */
  timeout?: Duration
  /** @default 512 */
  memorySize?: number
  /** Added to the defaults (`NODE_OPTIONS` for source maps), never replacing them. @default {} */
  environment?: Record<string, string>
  /** How long the function's logs are kept. @default RetentionDays.ONE_MONTH */
  logRetention?: RetentionDays
}

const repositoryRoot = new URL('..', import.meta.url)

// esbuild's ESM output has no `require`; some dependencies still call it for Node built-ins.
const requireShim =
  "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);"

const runtimeReason =
  'nodejs22.x on purpose: it is the runtime the library and its tests target (engines >=22, Node 22 toolchain). nodejs24.x also works.'
const asyncReason =
  'The sample functions are never invoked asynchronously: the API invokes the payment function synchronously and the others run from event source mappings, whose failures go to the queue redrive policy or the mapping on-failure destination.'

// cdk-nag findings that every sample function has, with the reason each is accepted.
const acknowledged: Record<string, string> = {
  'AwsSolutions-L1': runtimeReason,
  'Serverless-LambdaLatestVersion': runtimeReason,
  'AwsSolutions-IAM5[Resource::*]':
    'xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing) and dynamodb:ListStreams (a stream event source mapping) have no resource type: they only take "*". Everything else is scoped to an ARN.',
  'Serverless-LambdaDLQ': asyncReason,
  'Serverless-LambdaAsyncFailureDestination': asyncReason,
}

/**
 * The one place that decides how the sample's functions run: Node.js 22 on arm64, an ESM bundle
 * built by the local esbuild (never Docker), source maps, JSON logs in a log group with a
 * retention, X-Ray active tracing, and a role that may write to that log group (and send traces)
 * and nothing else until a grant adds to it.
 *
 * @example
 * const payment = new SampleFunction(this, 'Payment', { entry: 'infra/functions/payment.ts' })
 * table.grants.actions(payment, 'dynamodb:PutItem')
 */
export class SampleFunction extends Construct implements IGrantable {
  /** The function. */
  readonly function: NodejsFunction
  /** Its execution role's principal: grants go here. */
  readonly grantPrincipal: IPrincipal

  constructor(scope: Construct, id: string, props: SampleFunctionProps) {
    super(scope, id)
    const logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      // Logs of a sample: nothing to keep once the stack is gone.
      removalPolicy: RemovalPolicy.DESTROY,
    })
    // Instead of the AWSLambdaBasicExecutionRole managed policy, which may write to any log group.
    const role = new Role(this, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com') })
    role.addToPolicy(
      new PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [logGroup.logGroupArn],
      }),
    )
    this.function = new NodejsFunction(this, 'Function', {
      entry: fileURLToPath(new URL(props.entry, repositoryRoot)),
      handler: props.handler ?? 'handler',
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      timeout: props.timeout ?? Duration.seconds(10),
      memorySize: props.memorySize ?? 512,
      role,
      logGroup,
      // Traces each invocation; the SDK calls inside show as subsegments once a tracer wraps the
      // clients (the sample adds none, to keep its dependencies to the SDK).
      tracing: Tracing.ACTIVE,
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: ApplicationLogLevel.INFO,
      systemLogLevelV2: SystemLogLevel.WARN,
      projectRoot: fileURLToPath(repositoryRoot),
      depsLockFilePath: fileURLToPath(new URL('package-lock.json', repositoryRoot)),
      environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: 'node22',
        platform: 'node',
        mainFields: ['module', 'main'],
        banner: requireShim,
        minify: true,
        // Function names stay readable in stack traces and in anything that relies on fn.name.
        keepNames: true,
        sourceMap: true,
        sourcesContent: false,
        // Warnings and errors only: the size summary of every bundle buries what synth has to say.
        logLevel: LogLevel.WARNING,
        // The SDK is bundled, so the version that was tested is the one that runs.
        externalModules: [],
      },
    })
    this.grantPrincipal = this.function.grantPrincipal
    for (const [ruleId, reason] of Object.entries(acknowledged)) {
      Validations.of(this).acknowledge({ id: ruleId, reason })
    }
  }
}
