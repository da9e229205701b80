import { parentPort, workerData } from 'node:worker_threads'
import type { Context } from 'aws-lambda'
import { checkpointListeners, outcomeListeners } from '../functions/metrics.js'
import { localLambdaContext } from './lambda-context.js'

/**
 * Where the chaos run ends an invocation on purpose: when the claim is taken (before the side
 * effect), right after the side effect (before the library's completion), once the completion is
 * written (before the answer).
 */
export type KillPoint = 'before-effect' | 'after-effect' | 'after-completion'

/** A message from the runner to its sandbox. */
export interface InvokeMessage {
  type: 'invoke'
  id: number
  event: unknown
  functionName: string
  /** Epoch milliseconds: the invocation's deadline, for `getRemainingTimeInMillis()`. */
  deadline: number
  killAt?: KillPoint
}

/** A message from a sandbox to its runner. */
export type SandboxMessage =
  | { type: 'ready' }
  | { type: 'result'; id: number; value: unknown }
  | { type: 'error'; id: number; error: { name: string; message: string; stack?: string } }
  | { type: 'outcome'; event: unknown; functionName: string }
  | { type: 'forward'; name: string; args: unknown[] }

type FunctionModule = Record<string, unknown> & {
  handler: (event: unknown, context: Context) => Promise<unknown>
}

/**
 * Runs inside one worker thread, a sandbox of the local function runner: invokes the module's
 * `handler` for each `invoke` message, one at a time as Lambda does, and reports its outcomes and
 * the listener sets named in `workerData.forward` back to the runner. At the named kill point of
 * the invocation it ends the thread on the spot: nothing after that point runs.
 */
export const serveFunction = (module: FunctionModule): void => {
  const port = parentPort
  if (port === null) throw new Error('serveFunction() runs in a worker thread of the local function runner')
  const post = (message: SandboxMessage) => port.postMessage(message)
  let current: InvokeMessage | undefined

  const killIf = (point: KillPoint) => {
    // process.exit() in a worker ends this thread at once, as a crashed Lambda sandbox.
    if (current?.killAt === point) process.exit(137)
  }
  outcomeListeners.add((event, functionName) => {
    post({ type: 'outcome', event: structuredClone(event), functionName })
    if (event.outcome === 'claimed') killIf('before-effect')
    if (event.outcome === 'completed') killIf('after-completion')
  })
  checkpointListeners.add((point) => killIf(point))
  for (const name of (workerData?.forward ?? []) as string[]) {
    const listeners = module[name]
    if (!(listeners instanceof Set)) throw new Error(`the function module exports no listener set ${name}`)
    listeners.add((...args: unknown[]) => post({ type: 'forward', name, args: structuredClone(args) }))
  }

  port.on('message', async (message: InvokeMessage) => {
    if (message.type !== 'invoke') return
    current = message
    const context = localLambdaContext(message.functionName, message.deadline - Date.now())
    try {
      const value = await module.handler(message.event, context)
      post({ type: 'result', id: message.id, value: value === undefined ? null : value })
    } catch (error) {
      const { name, message: text, stack } = error as Error
      post({ type: 'error', id: message.id, error: { name: String(name), message: String(text), stack } })
    } finally {
      current = undefined
    }
  })
  post({ type: 'ready' })
}
