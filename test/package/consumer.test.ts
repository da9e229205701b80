import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, posix } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { countingClient, createIdempotencyTable, scanTable } from '../helpers/dynamodb.js'
import { installedVersion, packageEntries, readPackageJson } from './package-entries.js'
import { childEnv, node, type PackResult, packCleanCopy, run } from './packed.js'

// The package as users get it: packed by `npm pack` (its prepack builds dist from scratch),
// installed from the tarball into fresh projects in the OS temp dir, type-checked, bundled and run.

const fixtureDirectory = fileURLToPath(new URL('./fixture/', import.meta.url))
const pkg = readPackageJson()
const entries = packageEntries(pkg)
const mainEntry = entries.find((entry) => entry.subpath === '.')
if (mainEntry === undefined) throw new Error('package.json "exports" has no "." entry')

interface Project {
  directory: string
  tableName: string
}

/** A fresh ESM project with the tarball and the given packages installed from the registry. */
const createProject = async (directory: string, tarball: string, packages: Record<string, string>) => {
  await mkdir(directory, { recursive: true })
  await writeFile(
    join(directory, 'package.json'),
    `${JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2)}\n`,
  )
  for (const file of await readdir(fixtureDirectory)) {
    await cp(join(fixtureDirectory, file), join(directory, file))
  }
  const specs = Object.entries(packages).map(([name, version]) => `${name}@${version}`)
  await run(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball, ...specs],
    directory,
  )
}

// Tooling a consumer has, at the versions this repository uses (the npm cache already holds them).
const tooling = () =>
  Object.fromEntries(
    [
      'typescript',
      'esbuild',
      '@types/node',
      '@types/aws-lambda',
      '@aws-sdk/client-dynamodb',
      '@aws-sdk/lib-dynamodb',
    ].map((name) => [name, installedVersion(name)]),
  )

// Every optional peer (the CDK construct's aws-cdk-lib and constructs, redis...), for the subpaths.
const optionalPeers = () =>
  Object.fromEntries(
    Object.keys(pkg.peerDependencies)
      .filter((name) => pkg.peerDependenciesMeta?.[name]?.optional && name !== '@middy/core')
      .map((name) => [name, installedVersion(name)]),
  )

const { client } = countingClient()
let workDirectory = ''
let packed: PackResult = { tarball: '', files: [] }

beforeAll(async () => {
  workDirectory = await mkdtemp(join(tmpdir(), 'lambda-idempotency-consumer-'))
  packed = await packCleanCopy(workDirectory)
}, 300_000)

// The projects' node_modules hold thousands of files (aws-cdk-lib): deleting them takes a while.
const cleanupTimeoutMs = 300_000

afterAll(async () => {
  client.destroy()
  if (workDirectory !== '') await rm(workDirectory, { recursive: true, force: true })
}, cleanupTimeoutMs)

describe('the packed tarball', () => {
  it('holds only dist, src, the source of the WebAssembly reader and the documents', () => {
    const outside = packed.files.filter(
      (file) =>
        !['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'wasm/canonical-json.ts'].includes(file) &&
        !file.startsWith('dist/') &&
        !file.startsWith('src/'),
    )
    expect(outside).toEqual([])
    expect(packed.files.filter((file) => /(^|\/)(test|__tests__)\/|\.test\.|\.spec\./.test(file))).toEqual([])
    expect(packed.files).toEqual(
      expect.arrayContaining(['README.md', 'LICENSE', 'CHANGELOG.md', 'wasm/canonical-json.ts']),
    )
  })

  it('holds every file the exports map points to', () => {
    const targets = entries.flatMap((entry) => [entry.module, entry.types]).map((path) => path.slice(2))
    expect(targets.filter((target) => !packed.files.includes(target))).toEqual([])
  })

  it('builds dist from src and nothing else: one module per source file', () => {
    const sources = packed.files.filter((file) => /^src\/.+\.ts$/.test(file)).map((file) => file.slice(4, -3))
    const modules = packed.files
      .filter((file) => /^dist\/.+\.js$/.test(file))
      .map((file) => file.slice(5, -3))
    expect(modules).toEqual(sources)
  })

  it('has source maps and declaration maps whose sources are in the tarball', async () => {
    const extracted = join(workDirectory, 'extracted')
    await mkdir(extracted)
    await run('tar', ['-xzf', packed.tarball, '-C', extracted], workDirectory)
    const maps = packed.files.filter((file) => file.endsWith('.map'))
    expect(maps.length).toBeGreaterThan(0)
    const missing: string[] = []
    for (const map of maps) {
      const { sources } = JSON.parse(await readFile(join(extracted, 'package', map), 'utf8')) as {
        sources: string[]
      }
      for (const source of sources) {
        const resolved = posix.normalize(posix.join(posix.dirname(map), source))
        if (!packed.files.includes(resolved)) missing.push(`${map} -> ${source}`)
      }
    }
    expect(missing).toEqual([])
  })
})

// The handler of the fixture: the Middy middleware, makeIdempotent, DynamoDBStore and the errors.
const invoke = async (project: Project, handler: string, event: unknown) => {
  const output = await node(
    ['invoke.mjs', join(project.directory, 'out', 'handler.mjs'), handler, JSON.stringify(event)],
    project.directory,
    childEnv({
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_ENDPOINT_URL_DYNAMODB: inject('dynamoEndpoint'),
      IDEMPOTENCY_TABLE: project.tableName,
      RUNS_LOG: join(project.directory, 'runs.log'),
    }),
  )
  return (JSON.parse(output) as { result: unknown }).result
}

/**
 * Type-checks the project's .ts files (the handler and the entry probes) and the package's own
 * declarations. Returns the package's declaration files that the program loaded, as `./dist/...`.
 */
const typeCheck = async (project: Project, resolution: string): Promise<string[]> => {
  const output = await node(['typecheck.mjs', `tsconfig.${resolution}.json`, pkg.name], project.directory)
  const installed = `/node_modules/${pkg.name}/`
  return (JSON.parse(output) as { declarations: string[] }).declarations.map(
    (file) => `./${file.slice(file.lastIndexOf(installed) + installed.length)}`,
  )
}

const runs = async (project: Project) =>
  (await readFile(join(project.directory, 'runs.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean)

describe.each([
  { middy: 7, withOptionalPeers: true },
  { middy: 6, withOptionalPeers: false },
])('installed in a fresh project with @middy/core $middy', ({ middy, withOptionalPeers }) => {
  const project: Project = { directory: '', tableName: '' }
  // With the optional peers installed, every entry of the exports map is imported and checked.
  const checkedEntries = withOptionalPeers ? entries : [mainEntry]

  beforeAll(async () => {
    project.directory = join(workDirectory, `middy-${middy}`)
    await createProject(project.directory, packed.tarball, {
      ...tooling(),
      '@middy/core': middy === 7 ? installedVersion('@middy/core') : String(middy),
      ...(withOptionalPeers ? optionalPeers() : {}),
    })
    for (const entry of checkedEntries.filter((candidate) => candidate.subpath !== '.')) {
      // tsconfig.nodenext.json includes every .ts file of the project, these probes too.
      await writeFile(
        join(project.directory, `probe-${entry.subpath.slice(2).replaceAll(/[^a-z0-9]+/gi, '-')}.ts`),
        `import * as entry from '${entry.specifier}'\n\nexport const names: string[] = Object.keys(entry)\n`,
      )
    }
    project.tableName = await createIdempotencyTable(client)
  }, 300_000)

  afterAll(async () => {
    if (project.directory !== '') await rm(project.directory, { recursive: true, force: true })
  }, cleanupTimeoutMs)

  it(`resolves @middy/core ${middy} next to the package`, async () => {
    const middyPackage = JSON.parse(
      await readFile(join(project.directory, 'node_modules', '@middy', 'core', 'package.json'), 'utf8'),
    ) as { version: string }
    expect(middyPackage.version.split('.')[0]).toBe(String(middy))
  })

  // NodeNext checks the handler and an import of every entry; Bundler the handler (attw has
  // already resolved every entry with bundler resolution, and the CDK types are slow to load).
  it(`type-checks a strict handler and the entries ${checkedEntries.map((entry) => entry.subpath).join(', ')} with moduleResolution NodeNext`, async () => {
    expect(await typeCheck(project, 'nodenext')).toEqual(
      expect.arrayContaining(checkedEntries.map((entry) => entry.types)),
    )
  }, 240_000)

  it('type-checks the strict handler with moduleResolution Bundler', async () => {
    expect(await typeCheck(project, 'bundler')).toContain(mainEntry.types)
  }, 240_000)

  it.each(checkedEntries.map((entry) => entry.specifier))('imports %s in Node', async (specifier) => {
    const output = await node(
      ['--input-type=module', '-e', `console.log(JSON.stringify(Object.keys(await import('${specifier}'))))`],
      project.directory,
    )
    expect((JSON.parse(output) as string[]).length).toBeGreaterThan(0)
  })

  it('bundles the handler with esbuild and runs it once, then replays, against DynamoDB Local', async () => {
    await node(['bundle.mjs', join('out', 'handler.mjs')], project.directory)

    const event = { paymentId: 'pay-1', amount: 100 }
    const first = await invoke(project, 'chargeHandler', event)
    const replay = await invoke(project, 'chargeHandler', event)
    expect(first).toEqual({
      chargeId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      paymentId: 'pay-1',
      amount: 100,
    })
    expect(replay).toEqual(first)

    const refund = await invoke(project, 'refundHandler', event)
    expect(refund).toEqual({ statusCode: 200, refundId: expect.stringMatching(/^[0-9a-f-]{36}$/) })
    expect(await invoke(project, 'refundHandler', event)).toEqual(refund)
    expect(await invoke(project, 'refundHandler', { ...event, amount: 999 })).toEqual({
      statusCode: 422,
      code: 'IDEMPOTENCY_KEY_REUSED',
    })

    expect(await runs(project)).toEqual(['charge pay-1', 'refund pay-1'])
    const records = await scanTable(client, project.tableName)
    expect(records.map((record) => record.status?.S)).toEqual(['COMPLETED', 'COMPLETED'])
  }, 120_000)
})
