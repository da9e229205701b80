import type { Context } from 'aws-lambda'

/** A Lambda context as the runtime passes it, with a fixed remaining time. */
export const lambdaContext = (overrides: { functionName?: string; remainingMs?: number } = {}): Context => ({
  callbackWaitsForEmptyEventLoop: true,
  functionName: overrides.functionName ?? 'payments-charge',
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${overrides.functionName ?? 'payments-charge'}`,
  memoryLimitInMB: '256',
  awsRequestId: crypto.randomUUID(),
  logGroupName: '/aws/lambda/payments-charge',
  logStreamName: '2026/11/28/[$LATEST]0123456789abcdef',
  getRemainingTimeInMillis: () => overrides.remainingMs ?? 30_000,
  done: () => {},
  fail: () => {},
  succeed: () => {},
})

/** A logger that keeps what it is told, for assertions. */
export const recordingLogger = () => {
  const lines: { message: string; details?: Record<string, unknown> }[] = []
  return {
    lines,
    warn: (message: string, details?: Record<string, unknown>) => lines.push({ message, details }),
  }
}

/** Resolves after `ms` milliseconds. */
export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A clock the test moves by hand, epoch milliseconds. */
export const manualClock = (startMs = Date.UTC(2026, 10, 28, 12)) => {
  let nowMs = startMs
  return {
    now: () => nowMs,
    advance: (ms: number) => {
      nowMs += ms
    },
  }
}

/** A promise opened by hand: `await started.opened` in a test, `started.open()` in the work. */
export const gate = () => {
  let open: () => void = () => {}
  const opened = new Promise<void>((resolve) => {
    open = resolve
  })
  return { open, opened }
}

/** Polls `condition` every 5 ms until it holds (the test's own timeout bounds the wait). */
export const until = async (condition: () => boolean | Promise<boolean>): Promise<void> => {
  while (!(await condition())) await delay(5)
}
