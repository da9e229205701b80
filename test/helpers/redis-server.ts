import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, spawnServer, stopProcess, whenReady } from '../../infra/local/server-process.js'

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
  const server = spawnServer(
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
    { missing: 'redis-server is not on the PATH: install it (Debian: apt-get install -y redis-server)' },
  )
  const cleanUp = () => rmSync(directory, { recursive: true, force: true })
  try {
    await whenReady(
      server,
      waitForPing(port, () => server.child.exitCode === null),
    )
  } catch (error) {
    cleanUp()
    const taken = /already in use/i.test(server.output())
    throw taken ? new PortTakenError(error instanceof Error ? error.message : String(error)) : error
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop: async () => {
      await stopProcess(server.child)
      cleanUp()
    },
  }
}

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
