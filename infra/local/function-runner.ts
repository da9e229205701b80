import { createHash, randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, rename, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { Context } from 'aws-lambda'
import { build } from 'esbuild'
import type { InvokeMessage, KillPoint, SandboxMessage } from './function-worker.js'

export type { KillPoint } from './function-worker.js'

/** How one invocation is to die, if at all. */
export interface Fault {
  killAt?: KillPoint
  /** Ends the sandbox this long after the invocation starts (a crash at a random moment). */
  killAfterMs?: number
}

/** Options of {@link startLocalFunction}. */
export interface LocalFunctionOptions {
  /** The function's name, as the stack calls it: `Payment`. */
  name: string
  /** The module that exports `handler`, e.g. `new URL('../functions/payment.ts', import.meta.url)`. */
  entry: URL
  /** Ends each invocation at this point, as Lambda does (see `infra/function-timeouts.ts`). */
  timeoutMs: number
  /** The function's environment variables, added to this process's. */
  environment: Record<string, string>
  /** Sandboxes running at once; more invocations wait for one. @default 4 */
  maxConcurrency?: number
  /** The outcomes the function reports through `onEvent` (`outcomeListeners` of metrics.ts). */
  onOutcome?: (event: unknown, functionName: string) => void
  /** Listener sets the module exports, by name, and what to call here when they hear something. */
  forward?: Record<string, (...args: unknown[]) => void>
  /** Decides, per invocation, whether and where it dies. @default none */
  faults?: (event: unknown) => Fault | undefined
  /** Where the sandboxes' output lines go. @default one `write` per line on this process's stdout / stderr */
  output?: (line: string, stream: 'stdout' | 'stderr') => void
  /** @default console.log */
  log?: (line: string) => void
}

/** What ended an invocation without an answer, as Lambda reports it. */
export class LambdaFunctionError extends Error {
  override name = 'LambdaFunctionError'
  constructor(
    /** `Sandbox.Timedout`, `Runtime.ExitError` or the handler's error name. */
    readonly errorType: string,
    message: string,
  ) {
    super(message)
  }
}

/** Counts of a function's sandboxes and how its invocations ended. */
export interface LocalFunctionStats {
  invocations: number
  coldStarts: number
  timeouts: number
  /** Invocations ended by a fault: at a kill point or at a random moment. */
  kills: number
  /** The same, by where they were ended. */
  killsAt: Partial<Record<KillPoint | 'random moment', number>>
}

/** A sample function run as Lambda runs it: each invocation in a sandbox (a worker thread). */
export interface LocalFunction {
  readonly name: string
  readonly stats: LocalFunctionStats
  /** Invokes the function; rejects with a {@link LambdaFunctionError} when it throws, times out or dies. */
  invoke(event: unknown, fault?: Fault): Promise<unknown>
  /** The same, in the shape of a handler, for the local event sources and API (the context is the runner's). */
  // biome-ignore lint/suspicious/noExplicitAny: one runner serves handlers of every event source
  handler: (event: any, context: Context) => Promise<any>
  /** Ends the sandbox whose thread is `threadId` mid-invocation (the invocation fails as a crash). */
  kill(threadId: number): Promise<boolean>
  /** The fault of the invocation running in the sandbox `threadId`, if any. */
  faultOf(threadId: number): Fault | undefined
  stop(): Promise<void>
}

interface Running {
  id: number
  fault: Fault | undefined
  resolve: (value: unknown) => void
  reject: (error: Error) => void
  timers: NodeJS.Timeout[]
}

interface Sandbox {
  worker: Worker
  ready: Promise<void>
  running: Running | undefined
}

const repositoryRoot = new URL('../../', import.meta.url)
// Under node_modules so that a bundle's `import '@aws-sdk/...'` resolves to the project's packages.
const bundleDirectory = new URL('node_modules/.cache/lambda-idempotency-local/', repositoryRoot)
const bundles = new Map<string, Promise<string>>()

/**
 * Bundles the function module with its sandbox loop into one ES module (dependencies stay in
 * `node_modules`), once per process: a worker thread loads plain JavaScript, so a cold start takes
 * what a Lambda cold start takes, not a TypeScript compile. The file is named by its content, so
 * processes running at once share it and a changed source gets a new one.
 */
const bundle = (entry: URL): Promise<string> => {
  let built = bundles.get(entry.href)
  if (built === undefined) {
    built = (async () => {
      const result = await build({
        stdin: {
          contents: `import * as fn from ${JSON.stringify(fileURLToPath(entry))}
import { serveFunction } from ${JSON.stringify(fileURLToPath(new URL('./function-worker.ts', import.meta.url)))}
serveFunction(fn)
`,
          resolveDir: fileURLToPath(repositoryRoot),
          loader: 'ts',
          sourcefile: 'sandbox-entry.ts',
        },
        bundle: true,
        packages: 'external',
        platform: 'node',
        format: 'esm',
        target: 'node22',
        sourcemap: 'inline',
        write: false,
        logLevel: 'error',
      })
      const code = result.outputFiles[0]?.contents ?? new Uint8Array()
      const name = entry.pathname.split('/').at(-1)?.replace(/\.ts$/, '') ?? 'function'
      const file = fileURLToPath(
        new URL(
          `${name}-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.mjs`,
          bundleDirectory,
        ),
      )
      if (!existsSync(file)) {
        await mkdir(fileURLToPath(bundleDirectory), { recursive: true })
        // Written aside and renamed: another process reading it never sees half a file.
        const partial = `${file}.${process.pid}-${randomUUID()}`
        await writeFile(partial, code)
        await rename(partial, file)
      }
      return file
    })()
    bundles.set(entry.href, built)
  }
  return built
}

/**
 * Runs a sample function as Lambda does: each invocation in a sandbox, a worker thread that runs
 * one invocation at a time and is reused while it lives. At the function's timeout the sandbox is
 * terminated mid-work (nothing after that point runs, not a promise left in the background) and
 * the invocation fails with `Task timed out after N seconds`; the next invocation gets a fresh
 * sandbox (a cold start). Faults end a sandbox the same way at a named point or a random moment.
 *
 * @example
 * const payment = await startLocalFunction({ name: 'Payment', entry, timeoutMs: 10_000, environment })
 * await payment.invoke(event)
 * await payment.stop()
 */
export const startLocalFunction = async (options: LocalFunctionOptions): Promise<LocalFunction> => {
  const log = options.log ?? console.log
  const maxConcurrency = options.maxConcurrency ?? 4
  const file = await bundle(options.entry)
  const idle: Sandbox[] = []
  const all = new Set<Sandbox>()
  const waiting: ((sandbox: Sandbox) => void)[] = []
  const stats: LocalFunctionStats = { invocations: 0, coldStarts: 0, timeouts: 0, kills: 0, killsAt: {} }
  const countKill = (where: KillPoint | 'random moment') => {
    stats.kills++
    stats.killsAt[where] = (stats.killsAt[where] ?? 0) + 1
  }
  let nextId = 0
  let stopped = false

  const start = (): Sandbox => {
    stats.coldStarts++
    const worker = new Worker(new URL(`file://${file}`), {
      workerData: { forward: Object.keys(options.forward ?? {}) },
      env: { ...process.env, ...options.environment, AWS_LAMBDA_FUNCTION_NAME: options.name },
      stdout: true,
      stderr: true,
    })
    // One write per line, as Lambda's log lines (the load test counts the EMF lines this way).
    const output = options.output ?? ((line, stream) => process[stream].write(`${line}\n`))
    relayLines(worker.stdout, (line) => output(line, 'stdout'))
    relayLines(worker.stderr, (line) => output(line, 'stderr'))
    let markReady: () => void = () => {}
    let failStart: (error: Error) => void = () => {}
    const sandbox: Sandbox = {
      worker,
      running: undefined,
      ready: new Promise<void>((resolve, reject) => {
        markReady = resolve
        failStart = reject
      }),
    }
    sandbox.ready.catch(() => {})
    worker.on('message', (message: SandboxMessage) => {
      if (message.type === 'ready') return markReady()
      if (message.type === 'outcome') return options.onOutcome?.(message.event, message.functionName)
      if (message.type === 'forward') return options.forward?.[message.name]?.(...message.args)
      const running = sandbox.running
      if (running === undefined || running.id !== message.id) return
      finish(sandbox)
      if (message.type === 'result') running.resolve(message.value)
      else {
        const error = new LambdaFunctionError(message.error.name, message.error.message)
        error.stack = message.error.stack
        running.reject(error)
      }
      release(sandbox)
    })
    worker.on('error', (error) => {
      log(`[${options.name}] sandbox failed: ${error.stack}`)
    })
    worker.on('exit', (code) => {
      all.delete(sandbox)
      const index = idle.indexOf(sandbox)
      if (index >= 0) idle.splice(index, 1)
      failStart(new Error(`the ${options.name} sandbox exited with code ${code} during its init`))
      const running = sandbox.running
      if (running !== undefined) {
        finish(sandbox)
        if (running.fault?.killAt !== undefined) countKill(running.fault.killAt)
        running.reject(
          new LambdaFunctionError(
            'Runtime.ExitError',
            `RequestId: ${running.id} Error: Runtime exited with error: exit status ${code}`,
          ),
        )
      }
      // A waiting invocation gets a fresh sandbox in this one's place.
      const next = waiting.shift()
      if (next !== undefined && !stopped) next(start())
    })
    all.add(sandbox)
    return sandbox
  }

  const finish = (sandbox: Sandbox) => {
    for (const timer of sandbox.running?.timers ?? []) clearTimeout(timer)
    sandbox.running = undefined
  }

  const release = (sandbox: Sandbox) => {
    const next = waiting.shift()
    if (next !== undefined) next(sandbox)
    else idle.push(sandbox)
  }

  const acquire = (): Promise<Sandbox> => {
    const reused = idle.pop()
    if (reused !== undefined) return Promise.resolve(reused)
    if (all.size < maxConcurrency) return Promise.resolve(start())
    return new Promise((resolve) => waiting.push(resolve))
  }

  const end = async (sandbox: Sandbox, error: LambdaFunctionError) => {
    const running = sandbox.running
    if (running === undefined) return
    finish(sandbox)
    // Terminate before anyone hears of the failure: by then, nothing of this invocation runs.
    await sandbox.worker.terminate()
    running.reject(error)
  }

  const invoke = async (event: unknown, fault = options.faults?.(event)): Promise<unknown> => {
    if (stopped) throw new Error(`${options.name} is stopped`)
    const sandbox = await acquire()
    await sandbox.ready
    stats.invocations++
    const id = ++nextId
    const deadline = Date.now() + options.timeoutMs
    return new Promise((resolve, reject) => {
      const timers = [
        setTimeout(() => {
          stats.timeouts++
          const seconds = (options.timeoutMs / 1000).toFixed(2)
          void end(
            sandbox,
            new LambdaFunctionError('Sandbox.Timedout', `Task timed out after ${seconds} seconds`),
          )
        }, options.timeoutMs),
      ]
      if (fault?.killAfterMs !== undefined) {
        timers.push(
          setTimeout(() => {
            countKill('random moment')
            void end(
              sandbox,
              new LambdaFunctionError('Runtime.ExitError', 'Runtime exited without providing a reason'),
            )
          }, fault.killAfterMs),
        )
      }
      sandbox.running = { id, fault, resolve, reject, timers }
      const message: InvokeMessage = {
        type: 'invoke',
        id,
        event,
        functionName: options.name,
        deadline,
        ...(fault?.killAt === undefined ? {} : { killAt: fault.killAt }),
      }
      sandbox.worker.postMessage(message)
    })
  }

  const byThread = (threadId: number) => [...all].find((sandbox) => sandbox.worker.threadId === threadId)

  return {
    name: options.name,
    stats,
    invoke,
    handler: (event: unknown) => invoke(event),
    faultOf: (threadId) => byThread(threadId)?.running?.fault,
    kill: async (threadId) => {
      const sandbox = byThread(threadId)
      if (sandbox?.running === undefined) return false
      countKill(sandbox.running.fault?.killAt ?? 'random moment')
      await end(
        sandbox,
        new LambdaFunctionError('Runtime.ExitError', 'Runtime exited without providing a reason'),
      )
      return true
    },
    stop: async () => {
      stopped = true
      await Promise.all([...all].map((sandbox) => sandbox.worker.terminate()))
    },
  }
}

const relayLines = (stream: NodeJS.ReadableStream, write: (line: string) => void) => {
  let pending = ''
  stream.setEncoding('utf8')
  stream.on('data', (chunk: string) => {
    pending += chunk
    const lines = pending.split('\n')
    pending = lines.pop() ?? ''
    for (const line of lines) write(line)
  })
  stream.on('end', () => {
    if (pending !== '') write(pending)
  })
}
