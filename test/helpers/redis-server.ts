import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A running `redis-server` on 127.0.0.1. */
export interface RedisServer {
  url: string
  port: number
  stop(): Promise<void>
}

/**
 * Starts the Debian package's `redis-server` on a free port of 127.0.0.1, in memory only (no RDB
 * snapshots, no AOF), and waits until it answers PING. `extraArgs` go on the command line, e.g.
 * `['--cluster-enabled', 'yes']`. A port taken between choosing and binding it is retried.
 *
 * @example
 * const redis = await startRedisServer()
 * const client = await createClient({ url: redis.url }).connect()
 */
export const startRedisServer = async (extraArgs: string[] = []): Promise<RedisServer> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(extraArgs)
    } catch (error) {
      if (attempt >= 3 || !(error instanceof PortTakenError)) throw error
    }
  }
}

class PortTakenError extends Error {}

const startOnce = async (extraArgs: string[]): Promise<RedisServer> => {
  const port = await freePort()
  const directory = mkdtempSync(join(tmpdir(), 'redis-'))
  const child = spawn(
    'redis-server',
    [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      directory,
      ...extraArgs,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  child.stdout?.on('data', (chunk) => {
    output += chunk
  })
  child.stderr?.on('data', (chunk) => {
    output += chunk
  })
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new Error('redis-server is not on the PATH: install it (Debian: apt-get install -y redis-server)')
          : error,
      )
    })
    child.once('exit', (code) => {
      const message = `redis-server exited with code ${code}:\n${output}`
      reject(/already in use/i.test(output) ? new PortTakenError(message) : new Error(message))
    })
  })
  const cleanUp = () => rmSync(directory, { recursive: true, force: true })
  try {
    await Promise.race([waitForPing(port, () => child.exitCode === null), failed])
  } catch (error) {
    child.kill('SIGKILL')
    cleanUp()
    throw error
  }
  failed.catch(() => {}) // the exit at stop() is expected
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async () => {
      await stopProcess(child)
      cleanUp()
    },
  }
}

const freePort = (): Promise<number> =>
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

// A raw PING over TCP: no client library involved in deciding that the server is up.
const ping = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.setTimeout(1_000)
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.once('data', (data) => {
      socket.destroy()
      resolve(data.toString().startsWith('+PONG'))
    })
    socket.once('error', () => resolve(false))
    socket.once('timeout', () => {
      socket.destroy()
      resolve(false)
    })
  })

const waitForPing = async (port: number, running: () => boolean): Promise<void> => {
  const deadline = Date.now() + 20_000
  while (!(await ping(port))) {
    if (!running()) throw new Error('redis-server exited before it answered PING')
    if (Date.now() > deadline) throw new Error(`redis-server did not answer PING on port ${port} within 20 s`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const stopProcess = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const force = setTimeout(() => child.kill('SIGKILL'), 5_000)
    child.once('exit', () => {
      clearTimeout(force)
      resolve()
    })
    child.kill('SIGTERM')
  })
