import { type ChildProcess, spawn } from 'node:child_process'
import { createServer } from 'node:net'

/** A server process started for tests or the local loop, with what it printed so far. */
export interface ServerProcess {
  child: ChildProcess
  /** Rejects when the process cannot start or exits; race it against the readiness check. */
  failed: Promise<never>
  output(): string
}

/**
 * Spawns a server and collects its output. `missing` is the message when the command is not
 * installed (it should say how to install it).
 */
export const spawnServer = (
  command: string,
  args: string[],
  options: { cwd?: string; missing: string },
): ServerProcess => {
  const child = spawn(command, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  const collect = (chunk: Buffer) => {
    output += chunk
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(error.code === 'ENOENT' ? new Error(options.missing) : error)
    })
    child.once('exit', (code) => reject(new Error(`${command} exited with code ${code}:\n${output}`)))
  })
  return { child, failed, output: () => output }
}

/**
 * Waits until `ready` resolves; on failure (the server exited, or `ready` threw) kills the
 * process and rethrows.
 */
export const whenReady = async (server: ServerProcess, ready: Promise<void>): Promise<void> => {
  ready.catch(() => {}) // once the race is decided, a late failure of the check means nothing
  try {
    await Promise.race([ready, server.failed])
  } catch (error) {
    server.child.kill('SIGKILL')
    throw error
  }
  server.failed.catch(() => {}) // the exit at stop() is expected
}

/** A free TCP port on 127.0.0.1 (free now; a server binding it later may still lose a race). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      )
    })
  })

/** Stops a process with SIGTERM, and SIGKILL after 5 s. */
export const stopProcess = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const force = setTimeout(() => child.kill('SIGKILL'), 5_000)
    child.once('exit', () => {
      clearTimeout(force)
      resolve()
    })
    child.kill('SIGTERM')
  })
