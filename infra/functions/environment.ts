/**
 * What the sample functions read from their environment. The library itself reads none: the
 * functions build their clients and stores from these values and pass them in.
 */
export interface SampleEnvironment {
  idempotencyTable: string
  paymentsTable: string
  ordersTable: string
  stockTable: string
  orderEventsQueueUrl: string
  /** Set for local runs (DynamoDB Local); unset in AWS. */
  dynamodbEndpoint: string | undefined
  /** Set for local runs (a local SQS server); unset in AWS. */
  sqsEndpoint: string | undefined
}

const names = {
  idempotencyTable: 'IDEMPOTENCY_TABLE',
  paymentsTable: 'PAYMENTS_TABLE',
  ordersTable: 'ORDERS_TABLE',
  stockTable: 'STOCK_TABLE',
  orderEventsQueueUrl: 'ORDER_EVENTS_QUEUE_URL',
} as const

/**
 * Reads the variables `keys` names, failing at cold start with the name of the first one missing.
 *
 * @example
 * const { paymentsTable, dynamodbEndpoint } = readEnvironment(['paymentsTable'])
 */
export const readEnvironment = <K extends keyof typeof names>(
  keys: readonly K[],
  env: NodeJS.ProcessEnv = process.env,
): Pick<SampleEnvironment, K | 'dynamodbEndpoint' | 'sqsEndpoint'> => {
  const values: Partial<SampleEnvironment> = {
    dynamodbEndpoint: env.DYNAMODB_ENDPOINT || undefined,
    sqsEndpoint: env.SQS_ENDPOINT || undefined,
  }
  for (const key of keys) {
    const value = env[names[key]]
    if (value === undefined || value === '') {
      throw new Error(`environment variable ${names[key]} is not set: the sample function needs it`)
    }
    ;(values as Record<string, string>)[key] = value
  }
  return values as Pick<SampleEnvironment, K | 'dynamodbEndpoint' | 'sqsEndpoint'>
}

/**
 * How long a sample function's AWS SDK call may take: a connection within 1 s, an answer within
 * 3 s. The SDK default is no timeout at all, so a stalled connection would hold the invocation
 * (and its idempotency lease) until the function times out; with these the SDK retries the call
 * (3 attempts by default) and a store failure surfaces well within the 10 s function timeout.
 */
export const SDK_TIMEOUTS = { connectionTimeout: 1_000, requestTimeout: 3_000 } as const

/**
 * Client options of every sample function's SDK client: the request timeouts of
 * {@link SDK_TIMEOUTS} and an optional endpoint override (unset in AWS, `{ endpoint }` for local
 * runs).
 *
 * @example
 * new DynamoDBClient(endpointOption(env.dynamodbEndpoint))
 */
export const endpointOption = (
  endpoint: string | undefined,
): { endpoint?: string; requestHandler: typeof SDK_TIMEOUTS } => ({
  ...(endpoint === undefined ? {} : { endpoint }),
  requestHandler: SDK_TIMEOUTS,
})
