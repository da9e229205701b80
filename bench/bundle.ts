import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build, type Metafile } from 'esbuild'
import { type Summary, shuffle, summarize } from './stats.js'

export type BundleVariant = 'baseline' | 'ours' | 'powertools'

export interface BundleResult {
  /** Minified bytes of each handler bundle. */
  bytes: Record<BundleVariant, number>
  gzipBytes: Record<BundleVariant, number>
  /** Bytes each library adds over the baseline handler. */
  added: { ours: number; powertools: number }
  addedGzip: { ours: number; powertools: number }
  /** Where the bundled bytes come from, per package (or `lambda-idempotency` for src/), largest first. */
  inputs: Record<BundleVariant, { source: string; bytes: number }[]>
  /** lambda-idempotency's bytes in its handler's bundle, per file of src/, largest first. */
  oursFiles: { source: string; bytes: number }[]
  /** Fresh-process import time of each bundle, milliseconds. */
  importMs: Record<BundleVariant, Summary>
  /** Import time each library adds over the baseline (medians subtracted), milliseconds. */
  addedImportMs: { ours: number; powertools: number }
  spawns: number
  /** lambda-idempotency's minified bytes per entry point, tree-shaken, its own files only. */
  entryPoints?: EntryPointBytes[]
}

/** What one entry point of the library adds to a bundle: its src/ bytes, per file. */
export interface EntryPointBytes {
  entry: string
  bytes: number
  files: { source: string; bytes: number }[]
}

// Each entry point as a user imports it; peers (Middy, the AWS SDK, redis) stay out of the count.
const ENTRY_POINTS: { entry: string; code: string }[] = [
  {
    entry: 'Middy `idempotent` + `DynamoDBStore`',
    code: "export { idempotent, DynamoDBStore } from '../src/index.js'",
  },
  {
    entry: '`makeIdempotent` + `DynamoDBStore`',
    code: "export { makeIdempotent, DynamoDBStore } from '../src/index.js'",
  },
  {
    entry: '`idempotentSqsHandler` + `DynamoDBStore`',
    code: "export { idempotentSqsHandler, DynamoDBStore } from '../src/index.js'",
  },
  {
    entry: '`idempotentKinesisHandler` + `DynamoDBStore`',
    code: "export { idempotentKinesisHandler, DynamoDBStore } from '../src/index.js'",
  },
  {
    entry: '`idempotentDynamoDBStreamHandler` + `DynamoDBStore`',
    code: "export { idempotentDynamoDBStreamHandler, DynamoDBStore } from '../src/index.js'",
  },
  {
    entry: '`idempotentKafkaHandler` + `DynamoDBStore`',
    code: "export { idempotentKafkaHandler, DynamoDBStore } from '../src/index.js'",
  },
  {
    entry: '`RedisStore` (`lambda-idempotency/redis`)',
    code: "export { RedisStore } from '../src/redis.js'",
  },
]

/**
 * The library's own minified bytes for each entry point: esbuild bundles a module that re-exports
 * it (minified, ESM, Node 22, tree-shaken) with every package external, and counts the bytes that
 * come from src/.
 */
export const measureEntryPoints = async (): Promise<EntryPointBytes[]> => {
  const results: EntryPointBytes[] = []
  for (const { entry, code } of ENTRY_POINTS) {
    const { metafile } = await build({
      stdin: { contents: code, resolveDir: benchDirectory, loader: 'ts', sourcefile: 'entry.ts' },
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'node',
      target: 'node22',
      packages: 'external',
      write: false,
      metafile: true,
      logLevel: 'warning',
    })
    const files = breakdown(metafile, (path) => (path.startsWith('src/') ? path : undefined))
    results.push({ entry, bytes: files.reduce((sum, file) => sum + file.bytes, 0), files })
  }
  return results
}

const benchDirectory = fileURLToPath(new URL('.', import.meta.url))

/** The package a bundled input belongs to, for the byte breakdown. */
const sourceOf = (path: string): string => {
  const nodeModules = path.lastIndexOf('node_modules/')
  if (nodeModules >= 0) {
    const rest = path.slice(nodeModules + 'node_modules/'.length).split('/')
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? path)
  }
  if (path.startsWith('src/')) return 'lambda-idempotency'
  return 'handler'
}

const breakdown = (
  metafile: Metafile,
  group: (path: string) => string | undefined = sourceOf,
): { source: string; bytes: number }[] => {
  const totals = new Map<string, number>()
  for (const output of Object.values(metafile.outputs)) {
    for (const [path, input] of Object.entries(output.inputs)) {
      const source = group(path)
      if (source === undefined) continue
      totals.set(source, (totals.get(source) ?? 0) + input.bytesInOutput)
    }
  }
  return [...totals].map(([source, bytes]) => ({ source, bytes })).sort((a, b) => b.bytes - a.bytes)
}

/**
 * Bundles the three handlers of `bench/handlers/` the way a Lambda is usually deployed: esbuild,
 * minified, ESM for Node 22, `@aws-sdk/*` external (the Lambda runtime provides it), Middy bundled
 * in all three. Then imports each bundle in a fresh `node` process `spawns` times (interleaved).
 */
export const measureBundles = async (outputDirectory: string, spawns: number): Promise<BundleResult> => {
  mkdirSync(outputDirectory, { recursive: true })
  const variants: BundleVariant[] = ['baseline', 'ours', 'powertools']
  const bytes = {} as Record<BundleVariant, number>
  const gzipBytes = {} as Record<BundleVariant, number>
  const inputs = {} as BundleResult['inputs']
  const files = {} as Record<BundleVariant, string>
  let oursFiles: BundleResult['oursFiles'] = []
  for (const variant of variants) {
    const outfile = join(outputDirectory, `${variant}.mjs`)
    const { metafile } = await build({
      entryPoints: [join(benchDirectory, 'handlers', `${variant}.ts`)],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'node',
      target: 'node22',
      external: ['@aws-sdk/*'],
      outfile,
      metafile: true,
      logLevel: 'warning',
    })
    const code = readFileSync(outfile)
    bytes[variant] = code.length
    gzipBytes[variant] = gzipSync(code, { level: 9 }).length
    inputs[variant] = breakdown(metafile)
    if (variant === 'ours')
      oursFiles = breakdown(metafile, (path) => (path.startsWith('src/') ? path : undefined))
    files[variant] = outfile
  }

  const samples: Record<BundleVariant, number[]> = { baseline: [], ours: [], powertools: [] }
  for (let i = 0; i < spawns + 2; i++) {
    for (const variant of shuffle([...variants])) {
      const ms = await importOnce(files[variant])
      if (i >= 2) samples[variant].push(ms) // the first two rounds warm the file system cache
    }
  }
  const importMs = {
    baseline: summarize(samples.baseline),
    ours: summarize(samples.ours),
    powertools: summarize(samples.powertools),
  }
  return {
    bytes,
    gzipBytes,
    added: { ours: bytes.ours - bytes.baseline, powertools: bytes.powertools - bytes.baseline },
    addedGzip: {
      ours: gzipBytes.ours - gzipBytes.baseline,
      powertools: gzipBytes.powertools - gzipBytes.baseline,
    },
    inputs,
    oursFiles,
    importMs,
    addedImportMs: {
      ours: importMs.ours.median - importMs.baseline.median,
      powertools: importMs.powertools.median - importMs.baseline.median,
    },
    spawns,
    entryPoints: await measureEntryPoints(),
  }
}

// Times `await import(bundle)` inside a fresh Node process (the same Node that runs the benchmark):
// the work a Lambda cold start does for the handler module. The DynamoDB client, which every
// handler loads (the runtime provides it), is loaded before the clock starts: its 150 ms or so
// would otherwise bury a library's few milliseconds in noise. Any other package a bundle loads
// counts.
const importOnce = (file: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const script = [
      "await import('@aws-sdk/client-dynamodb')",
      'const start = performance.now()',
      'await import(process.argv[1])',
      'process.stdout.write(String(performance.now() - start))',
    ].join('; ')
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, pathToFileURL(file).href], {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      env: { PATH: process.env.PATH ?? '', AWS_REGION: 'us-east-1', IDEMPOTENCY_TABLE: 'idempotency' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => {
      stdout += chunk
    })
    child.stderr.on('data', (chunk) => {
      stderr += chunk
    })
    child.once('error', reject)
    child.once('exit', (code) => {
      const ms = Number(stdout)
      if (code !== 0 || !Number.isFinite(ms))
        reject(new Error(`importing ${file} failed (${code}): ${stderr}`))
      else resolve(ms)
    })
  })
