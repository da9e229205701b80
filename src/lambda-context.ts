import type { Context } from 'aws-lambda'

/** The Lambda context, or `undefined` when the caller passed none (tests, local runs). */
export const lambdaContext = (value: unknown): Context | undefined => {
  if (typeof value !== 'object' || value === null) return undefined
  const candidate = value as Partial<Context>
  return typeof candidate.getRemainingTimeInMillis === 'function' ||
    typeof candidate.functionName === 'string'
    ? (value as Context)
    : undefined
}
