import { type ChildProcess, fork } from 'node:child_process'
import { closeSync, openSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { inspect } from 'node:util'
import { type LoadSample, type LoadSampleOptions, startLoadSample } from './load-sample.js'

// Run as `node --import tsx load-sample-process.ts <flag> <options>`, this file is the child.
const CHILD_FLAG = '--load-sample-child'

type Request = { id: number; method: 'settled' | 'invocations' | 'metrics' | 'stop'; timeoutMs?: number }
type Reply = { id: number; result?: unknown; error?: string }
type Started = { type: 'ready'; sample: Omit<LoadSample, 'settled' | 'invocations' | 'metrics' | 'stop'> }

/**
 * Starts {@link startLoadSample} in a child Node process, so the load generator and the code under
 * load do not share one event loop. The child's standard output and error (the API's request lines,
 * the functions' logs, their EMF lines) go to `logFile`. The child stops when `stop()` is called or
 * when this process goes away.
 *
 * @example
 * const sample = await startLoadSampleProcess({ dynamodbEndpoint, logFile: join(tmpdir(), 'loadtest.log') })
 * await sample.stop()
 */
export const startLoadSampleProcess = async (
  options: LoadSampleOptions & { logFile: string; startTimeoutMs?: number },
): Promise<LoadSample> => {
  // `log` is a function and stays here: the child logs to its standard output.
  const { logFile, startTimeoutMs = 120_000, log: _log, ...sampleOptions } = options
  const output = openSync(logFile, 'a')
  let child: ChildProcess
  try {
    // Inherits this process's execArgv (`--import tsx`), so the child runs the TypeScript sources too.
    child = fork(fileURLToPath(import.meta.url), [CHILD_FLAG, JSON.stringify(sampleOptions)], {
      stdio: ['ignore', output, output, 'ipc'],
    })
  } finally {
    closeSync(output)
  }
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))

  const started = await new Promise<Started>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`the sample did not start within ${startTimeoutMs} ms: see ${logFile}`))
    }, startTimeoutMs)
    child.once('message', (message: Started | { type: 'failed'; error: string }) => {
      clearTimeout(timer)
      if (message.type === 'ready') resolve(message)
      else reject(new Error(`the sample did not start: ${message.error}`))
    })
    exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`the sample process exited with code ${code} while starting: see ${logFile}`))
    })
  })

  let nextId = 0
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()
  child.on('message', (message: Reply) => {
    const waiting = pending.get(message.id)
    if (waiting === undefined) return
    pending.delete(message.id)
    if (message.error === undefined) waiting.resolve(message.result)
    else waiting.reject(new Error(message.error))
  })
  exited.then((code) => {
    for (const waiting of pending.values())
      waiting.reject(new Error(`the sample process exited with code ${code}`))
    pending.clear()
  })
  const call = <T>(method: Request['method'], timeoutMs = 30_000): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (child.exitCode !== null || !child.connected) return reject(new Error('the sample process is gone'))
      const id = nextId++
      const timer = setTimeout(() => {
        pending.delete(id)
        reject(new Error(`the sample process did not answer ${method} within ${timeoutMs} ms`))
      }, timeoutMs)
      pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer)
          resolve(value as T)
        },
        reject: (error) => {
          clearTimeout(timer)
          reject(error)
        },
      })
      child.send({ id, method, timeoutMs } satisfies Request)
    })

  return {
    ...started.sample,
    settled: (timeoutMs) => call('settled', timeoutMs + 10_000),
    invocations: () => call('invocations'),
    metrics: () => call('metrics'),
    stop: async () => {
      if (child.exitCode === null) {
        await call('stop', 60_000).catch(() => child.kill('SIGKILL'))
        const force = setTimeout(() => child.kill('SIGKILL'), 10_000)
        await exited
        clearTimeout(force)
      }
    },
  }
}

const runChild = async () => {
  const send = (message: unknown) => process.send?.(message)
  let sample: LoadSample
  try {
    sample = await startLoadSample({
      ...(JSON.parse(process.argv[3] ?? '{}') as LoadSampleOptions),
      printMetrics: true,
      log: (line) => console.log(line),
    })
  } catch (error) {
    send({ type: 'failed', error: (error as Error).message })
    process.exit(1)
  }
  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= sample
      .stop()
      .catch((error) => console.error(`stopping the sample failed: ${(error as Error).stack}`))
      .then(() => {
        if (process.connected) process.disconnect()
        // Idle keep-alive sockets of the functions' SDK clients would keep this process alive.
        process.exit(0)
      })
    return stopping
  }
  process.on('message', async (request: Request) => {
    try {
      const result =
        request.method === 'settled'
          ? await sample.settled(request.timeoutMs ?? 30_000)
          : request.method === 'invocations'
            ? await sample.invocations()
            : request.method === 'metrics'
              ? await sample.metrics()
              : undefined
      if (request.method === 'stop') {
        // Answer first: the channel closes once everything has stopped.
        send({ id: request.id, result: null } satisfies Reply)
        await stop()
        return
      }
      send({ id: request.id, result: result ?? null } satisfies Reply)
    } catch (error) {
      send({ id: request.id, error: (error as Error).message } satisfies Reply)
    }
  })
  // The parent went away (finished, crashed or interrupted): stop everything this process started.
  process.on('disconnect', () => void stop())
  process.on('SIGINT', () => void stop())
  process.on('SIGTERM', () => void stop())
  const { settled: _s, invocations: _i, metrics: _m, stop: _stop, ...info } = sample
  send({ type: 'ready', sample: info } satisfies Started)
}

if (process.argv[2] === CHILD_FLAG && process.send !== undefined) {
  inspect.defaultOptions.breakLength = Number.POSITIVE_INFINITY
  await runChild()
}
