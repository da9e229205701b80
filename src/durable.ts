import type { Context } from 'aws-lambda'
import { IdempotencyConfigError } from './errors.js'
import { sha256 } from './key.js'
import { lambdaContext } from './lambda-context.js'

/**
 * What a handler's second argument says about the invocation: its Lambda context, and the durable
 * execution whose handler it runs, if any.
 */
export interface Invocation {
  context: Context | undefined
  /** The ARN of the durable execution: the same on every replay of its handler. */
  durableExecutionArn: string | undefined
}

/**
 * Reads a handler's arguments. A durable function handler (`withDurableExecution` of
 * `@aws/durable-execution-sdk-js`) gets a `DurableContext`, recognised by its shape (its
 * `executionContext.durableExecutionArn` and its `lambdaContext`) so that the SDK is never loaded.
 *
 * @throws IdempotencyConfigError when the input is the durable execution's own invocation, i.e.
 *   the wrapper sits outside `withDurableExecution`: every replay would then be a new key.
 */
export const invocationOf = (input: unknown, contextArgument: unknown): Invocation => {
  if (isDurableInvocationInput(input)) {
    throw new IdempotencyConfigError(
      'handler',
      'the handler passed to withDurableExecution(), not the handler it returns (withDurableExecution(makeIdempotent(handler, options)))',
      'an invocation of a durable execution (DurableExecutionArn, CheckpointToken)',
    )
  }
  const arn = durableExecutionArn(contextArgument)
  if (arn === undefined) return { context: lambdaContext(contextArgument), durableExecutionArn: undefined }
  return {
    context: lambdaContext((contextArgument as { lambdaContext?: unknown }).lambdaContext),
    durableExecutionArn: arn,
  }
}

/**
 * The owner token of a durable execution's claim: derived from its ARN, so every replay of the
 * handler holds the claim the first invocation took, and no other execution can.
 */
export const durableOwner = (executionArn: string): string => `durable:${sha256(executionArn)}`

const durableExecutionArn = (value: unknown): string | undefined => {
  if (typeof value !== 'object' || value === null) return undefined
  const { executionContext } = value as { executionContext?: { durableExecutionArn?: unknown } }
  const arn = typeof executionContext === 'object' ? executionContext?.durableExecutionArn : undefined
  return typeof arn === 'string' && arn.length > 0 ? arn : undefined
}

// What Lambda passes to the handler that withDurableExecution() returns (DurableExecutionInvocationInput).
const isDurableInvocationInput = (value: unknown): boolean =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as { DurableExecutionArn?: unknown }).DurableExecutionArn === 'string' &&
  typeof (value as { CheckpointToken?: unknown }).CheckpointToken === 'string'
