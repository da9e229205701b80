import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { countingClient, createIdempotencyTable, scanTable } from '../helpers/dynamodb.js'
import { installedVersion, readPackageJson, repoRoot } from './package-entries.js'
import { childEnv, node, type PackResult, packCleanCopy, run } from './packed.js'
import { type FencedBlock, fencedBlocks, namedFile } from './readme-blocks.js'

// A user's first hour, for every combination of the optional peers: fresh projects outside the
// repository install the packed tarball as README "Install" says, with no optional peer, with each
// alone, and with all of them; take README's tsconfig, first handler and unit test; type-check with
// `skipLibCheck: false` on TypeScript 7 (what `npm i -D typescript` brings now) and, at the two
// ends of the range, 5.9; and run, against MemoryStore and (every peer) DynamoDB Local.

/** The TypeScript 7 a fresh `npm i -D typescript` installs; 5.9 is the repository's own. */
const TYPESCRIPT_7 = '^7.0.2'

const pkg = readPackageJson()
const peerFiles = fileURLToPath(new URL('./peers/', import.meta.url))
const typecheckScript = fileURLToPath(new URL('./fixture/typecheck.mjs', import.meta.url))
const readme = fencedBlocks(await readFile(join(repoRoot, 'README.md'), 'utf8'))

const readmeBlock = (heading: string, match: (block: FencedBlock) => boolean, what: string): string => {
  const block = readme.find((candidate) => candidate.heading === heading && match(candidate))
  if (block === undefined) throw new Error(`README.md has no ${what} under "${heading}"`)
  return block.code
}

/** The files README "Install" and "Your first idempotent handler" have a user write. */
const readmeFiles = {
  'tsconfig.json': readmeBlock('Install', (block) => block.language === 'json', 'tsconfig.json block'),
  'handler.ts': readmeBlock(
    'Your first idempotent handler',
    (block) => namedFile(block) === 'handler.ts',
    'handler.ts',
  ),
  'handler.test.ts': readmeBlock(
    'Your first idempotent handler',
    (block) => namedFile(block) === 'handler.test.ts',
    'handler.test.ts',
  ),
}

/** What README "Install" has every project install, besides the package: the SDK and Node's types. */
const basePackages = ['@aws-sdk/client-dynamodb', '@types/node']

/** Each optional peer as README "Install" names it, with the files of the project that use it. */
const peerGroups = {
  middy: { packages: ['@middy/core'], files: ['handler.ts', 'handler.test.ts'] },
  'lib-dynamodb': { packages: ['@aws-sdk/lib-dynamodb'], files: ['document-client.ts'] },
  redis: { packages: ['redis'], files: ['redis.ts'] },
  cdk: { packages: ['aws-cdk-lib', 'constructs'], files: ['cdk.ts'] },
} as const
type PeerGroup = keyof typeof peerGroups

const optionalPeers = Object.keys(pkg.peerDependencies).filter(
  (name) => pkg.peerDependenciesMeta?.[name]?.optional === true,
)

const combinations: { name: string; groups: PeerGroup[]; packages: string[] }[] = [
  { name: 'no optional peer', groups: [], packages: [] },
  ...(Object.keys(peerGroups) as PeerGroup[]).map((group) => ({
    name: `only ${peerGroups[group].packages.join(' and ')}`,
    groups: [group],
    packages: [...peerGroups[group].packages],
  })),
  // Every optional peer package.json declares, @aws-sdk/util-dynamodb included.
  { name: 'every optional peer', groups: Object.keys(peerGroups) as PeerGroup[], packages: optionalPeers },
]

const { client } = countingClient()
let workDirectory = ''
let packed: PackResult = { tarball: '', files: [] }
let typescript7 = ''

const npmInstall = (directory: string, specs: string[]) =>
  run(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...specs],
    directory,
  )

const projectDirectory = (name: string) => join(workDirectory, name.replaceAll(/[^a-z0-9]+/gi, '-'))

/** A fresh ESM project: README's tsconfig and files for its peers, the tarball and the peers installed. */
const createProject = async ({ name, groups, packages }: (typeof combinations)[number]) => {
  const directory = projectDirectory(name)
  await mkdir(directory, { recursive: true })
  await writeFile(
    join(directory, 'package.json'),
    `${JSON.stringify({ name: 'first-app', private: true, type: 'module' }, null, 2)}\n`,
  )
  await writeFile(join(directory, 'tsconfig.json'), readmeFiles['tsconfig.json'])
  await cp(join(peerFiles, 'core.ts'), join(directory, 'core.ts'))
  for (const file of groups.flatMap((group) => peerGroups[group].files)) {
    if (file in readmeFiles)
      await writeFile(join(directory, file), readmeFiles[file as keyof typeof readmeFiles])
    else await cp(join(peerFiles, file), join(directory, file))
  }
  await npmInstall(directory, [
    packed.tarball,
    ...[...basePackages, ...packages].map((name) => `${name}@${installedVersion(name)}`),
  ])
}

beforeAll(async () => {
  workDirectory = await mkdtemp(join(tmpdir(), 'lambda-idempotency-peers-'))
  // One install of TypeScript 7 for every project; the npm cache is the user's one, shared.
  const tools = join(workDirectory, 'tools')
  await mkdir(tools)
  await writeFile(join(tools, 'package.json'), '{ "private": true }\n')
  const [pack] = await Promise.all([
    packCleanCopy(workDirectory),
    npmInstall(tools, [`typescript@${TYPESCRIPT_7}`]),
  ])
  packed = pack
  typescript7 = join(tools, 'node_modules', 'typescript', 'bin', 'tsc')
  // The installs wait on the network and the disk more than on the CPU: side by side.
  await Promise.all(combinations.map(createProject))
}, 300_000)

afterAll(async () => {
  client.destroy()
  if (workDirectory !== '') await rm(workDirectory, { recursive: true, force: true })
}, 300_000)

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  )

/** `tsc -p .` of TypeScript 7 in the project: its diagnostics, one per line (an empty list when it passes). */
const tsc7 = async (directory: string, args: string[] = []): Promise<string[]> => {
  try {
    await run(process.execPath, [typescript7, '-p', '.', '--pretty', 'false', ...args], directory)
    return []
  } catch (error) {
    return String((error as Error).message)
      .split('\n')
      .filter((line) => /error TS\d+/.test(line))
  }
}

// @middy/core 7's index.d.ts imports its own optional peer @aws/durable-execution-sdk-js: with
// skipLibCheck false, that file fails unless the peer is installed (README "Install" says so).
const middyDurableImport = (line: string) =>
  line.startsWith('node_modules/@middy/core/') && line.includes("'@aws/durable-execution-sdk-js'")

describe.each(combinations)('a fresh project with $name', (combination) => {
  const directory = () => projectDirectory(combination.name)
  const has = (group: PeerGroup) => combination.groups.includes(group)

  it('has its optional peers installed and the others not', async () => {
    const absent = (Object.keys(peerGroups) as PeerGroup[])
      .filter((group) => !has(group))
      .flatMap((group) => peerGroups[group].packages)
    const installed: string[] = []
    for (const name of [...combination.packages, ...absent]) {
      if (await exists(join(directory(), 'node_modules', name, 'package.json'))) installed.push(name)
    }
    expect(installed).toEqual(combination.packages)
  })

  // One run of TypeScript 7 does both: skipLibCheck false reports everything README's tsconfig
  // (skipLibCheck true) reports, and more; and it emits the JavaScript the next tests run.
  const everyPeer = combination.packages.length === optionalPeers.length

  it("type-checks README's tsconfig and files, and the package's declarations with skipLibCheck false, on TypeScript 7", async () => {
    const errors = await tsc7(directory(), ['--skipLibCheck', 'false'])
    expect(errors.filter((line) => !middyDurableImport(line))).toEqual([])
  }, 120_000)

  // TypeScript 5.9 resolves a missing peer as 7 does: the two ends of the range are enough there.
  if (combination.packages.length === 0 || everyPeer)
    it("type-checks the project and the package's declarations with skipLibCheck false on TypeScript 5.9", async () => {
      const output = await node([typecheckScript, join(directory(), 'tsconfig.json'), pkg.name], directory())
      const { declarations } = JSON.parse(output) as { declarations: string[] }
      expect(declarations.map((file) => file.slice(file.lastIndexOf('/dist/') + 1))).toEqual(
        expect.arrayContaining([
          'dist/index.d.ts',
          ...(has('redis') ? ['dist/redis.d.ts'] : []),
          ...(has('cdk') ? ['dist/cdk.d.ts'] : []),
        ]),
      )
    }, 120_000)

  it('runs makeIdempotent and the SQS handler against MemoryStore: one charge, one order', async () => {
    const output = JSON.parse(await node(['core.js'], directory())) as Record<string, unknown>
    expect(output).toEqual({
      first: { chargeId: 'ch_1', amount: 100 },
      retry: { chargeId: 'ch_1', amount: 100 },
      batch: { batchItemFailures: [] },
      runs: ['charge pay_1', 'order evt_1'],
    })
  })

  if (has('middy'))
    it("passes README's unit test of its first handler (node --test handler.test.js)", async () => {
      const output = await node(['--test', 'handler.test.js'], directory())
      expect(output).toMatch(/^# pass 1$/m)
      expect(output).toMatch(/^# fail 0$/m)
    })

  if (has('lib-dynamodb'))
    it('builds DynamoDBStore and PowertoolsDynamoDBStore on a document client', async () => {
      expect(JSON.parse(await node(['document-client.js'], directory()))).toEqual({
        store: 'DynamoDBStore',
        powertoolsStore: 'PowertoolsDynamoDBStore',
      })
    })

  if (has('redis'))
    it('builds RedisStore from lambda-idempotency/redis', async () => {
      expect(JSON.parse(await node(['redis.js'], directory()))).toEqual({ store: 'RedisStore' })
    })

  if (has('cdk'))
    it('adds IdempotencyTable from lambda-idempotency/cdk to a stack', async () => {
      expect(JSON.parse(await node(['cdk.js'], directory()))).toEqual({ construct: 'Payments/Idempotency' })
    })

  if (everyPeer)
    it("runs README's handler against DynamoDB Local: one charge, then a replay", async () => {
      const tableName = await createIdempotencyTable(client)
      await cp(join(peerFiles, 'dynamodb-local.mjs'), join(directory(), 'dynamodb-local.mjs'))
      const output = await node(
        ['dynamodb-local.mjs', 'first-hour-1'],
        directory(),
        childEnv({
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'local',
          AWS_SECRET_ACCESS_KEY: 'local',
          AWS_ENDPOINT_URL_DYNAMODB: inject('dynamoEndpoint'),
          IDEMPOTENCY_TABLE: tableName,
        }),
      )
      const { first, retry, charges } = JSON.parse(output) as {
        first: { statusCode: number; body: string }
        retry: { statusCode: number; body: string; headers: Record<string, string> }
        charges: unknown[]
      }
      expect(first).toMatchObject({
        statusCode: 201,
        body: JSON.stringify({ chargeId: 'ch_1', amount: 4200 }),
      })
      expect(retry).toMatchObject({
        statusCode: 201,
        body: first.body,
        headers: { 'Idempotent-Replayed': 'true' },
      })
      expect(charges).toEqual([{ amount: 4200 }])
      const records = await scanTable(client, tableName)
      expect(records.map((record) => record.status?.S)).toEqual(['COMPLETED'])
    }, 60_000)
})
