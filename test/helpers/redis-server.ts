import { mkdtempSync, rmSync } from 'node:fs'
import { createConnection } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from 'redis'
import { afterAll, beforeAll } from 'vitest'
import { freePort, spawnServer, stopProcess, whenReady } from '../../infra/local/server-process.js'

/** A running `redis-server` on 127.0.0.1. */
export interface RedisServer {
  url: string
  port: number
  stop(): Promise<void>
  /** Freezes the process (SIGSTOP): connections stay open and nothing answers, as in a hang. */
  pause(): void
  /** Lets a paused process run again (SIGCONT); it then answers what it was sent meanwhile. */
  resume(): void
  /**
   * Stops the server and starts it again on the same port, directory and arguments. `crash`
   * kills it with SIGKILL (no shutdown save, no AOF flush) instead of shutting it down.
   */
  restart(options?: { crash?: boolean }): Promise<void>
}

/**
 * Starts the Debian package's `redis-server` on a free port of 127.0.0.1, in memory only (no RDB
 * snapshots, no AOF) unless `extraArgs` say otherwise, and waits until it answers PING.
 * `extraArgs` go on the command line, after the defaults, e.g. `['--cluster-enabled', 'yes']` or
 * `['--appendonly', 'yes', '--appendfsync', 'always']`. A port taken between choosing and binding
 * it is retried.
 *
 * @example
 * const redis = await startRedisServer()
 * const client = await createClient({ url: redis.url }).connect()
 */
export const startRedisServer = async (extraArgs: string[] = []): Promise<RedisServer> => {
  for (let attempt = 1; ; attempt++) {
    const directory = mkdtempSync(join(tmpdir(), 'redis-'))
    try {
      let server = await startOnce(await freePort(), directory, extraArgs)
      const { port } = server
      return {
        url: `redis://127.0.0.1:${port}`,
        port,
        stop: async () => {
          server.child.kill('SIGCONT')
          await stopProcess(server.child)
          rmSync(directory, { recursive: true, force: true })
        },
        pause: () => server.child.kill('SIGSTOP'),
        resume: () => server.child.kill('SIGCONT'),
        restart: async ({ crash = false } = {}) => {
          server.child.kill('SIGCONT')
          if (crash) {
            const exited = new Promise((resolve) => server.child.once('exit', resolve))
            server.child.kill('SIGKILL')
            await exited
          } else {
            await stopProcess(server.child)
          }
          server = await startOnce(port, directory, extraArgs)
        },
      }
    } catch (error) {
      rmSync(directory, { recursive: true, force: true })
      if (attempt >= 3 || !(error instanceof PortTakenError)) throw error
    }
  }
}

class PortTakenError extends Error {}

const startOnce = async (port: number, directory: string, extraArgs: string[]) => {
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
  try {
    await whenReady(
      server,
      waitForPing(port, () => server.child.exitCode === null),
    )
  } catch (error) {
    const taken = /already in use/i.test(server.output())
    throw taken ? new PortTakenError(error instanceof Error ? error.message : String(error)) : error
  }
  return { child: server.child, port }
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

/**
 * A `redis-server` and a connected client for the test file that calls this at its top level:
 * started before its tests, closed and stopped after them.
 *
 * @example
 * const redis = useRedisServer()
 * it('...', () => new RedisStore({ client: redis.client, keyPrefix: 'test:' }))
 */
export const useRedisServer = (): { readonly client: ReturnType<typeof createClient> } => {
  let server: RedisServer | undefined
  let client: ReturnType<typeof createClient> | undefined
  beforeAll(async () => {
    server = await startRedisServer()
    client = createClient({ url: server.url })
    await client.connect()
  })
  afterAll(async () => {
    await client?.close()
    await server?.stop()
  })
  return {
    get client() {
      if (client === undefined)
        throw new Error('the redis client is connected in beforeAll: use it inside a test')
      return client
    },
  }
}
