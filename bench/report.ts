import type { BundleResult } from './bundle.js'
import type { ConcurrencyResult } from './concurrency.js'
import type { CpuResult } from './cpu.js'
import type { LatencyPhase } from './latency.js'
import type { Part } from './parts.js'
import type { RequestPhase } from './requests.js'
import { formatNumber, formatRatio, ratio, summarize } from './stats.js'
import type { WriteResult } from './write.js'

/** Where and with what the benchmark ran. */
export interface Environment {
  date: string
  cpuModel: string
  cores: number
  memoryGiB: number
  os: string
  node: string
  versions: Record<string, string>
  /** Our commit, and whether src/ had uncommitted changes when it ran. */
  commit: string
  sourceModified: boolean
  /** 1-minute load average when each section started, and at the end. */
  load: Record<string, number>
  smallEventBytes: number
  largeBodyBytes: number
  quick: boolean
}

export interface BenchResults {
  environment: Environment
  requests: RequestPhase[]
  latency: LatencyPhase[]
  /** A first call whose handler writes to DynamoDB (older results files have none). */
  write?: WriteResult
  cpu: CpuResult[]
  bundle: BundleResult
  concurrency: ConcurrencyResult
  parts: Part[]
}

/** One line of the summary: a measure, both figures, the target and whether ours meets it. */
export interface SummaryRow {
  measure: string
  unit: string
  ours: number
  powertools: number
  target: string
  met: boolean | undefined
}

const BUNDLE_TARGET_BYTES = 10 * 1024

/** The rows the README and the chart show, with the targets of issue 6. */
export const summaryRows = (results: BenchResults): SummaryRow[] => {
  const rows: SummaryRow[] = []
  for (const phase of results.requests) {
    rows.push({
      measure: `DynamoDB requests, ${phase.label}`,
      unit: 'requests',
      ours: phase.ours.median,
      powertools: phase.powertools.median,
      target: 'same as Powertools',
      met: phase.ours.median === phase.powertools.median && phase.ours.max <= phase.powertools.max,
    })
  }
  for (const phase of results.latency) {
    rows.push({
      measure: `latency on DynamoDB Local, ${phase.label} (median)`,
      unit: 'ms',
      ours: phase.ours.median,
      powertools: phase.powertools.median,
      target: '',
      met: undefined,
    })
  }
  const { write } = results
  if (write !== undefined) {
    rows.push(
      {
        measure: `DynamoDB requests, ${write.label}`,
        unit: 'requests',
        ours: write.ours.requests.median,
        powertools: write.powertools.requests.median,
        target: 'fewer than Powertools (transactional completion)',
        met: write.ours.requests.max < write.powertools.requests.min,
      },
      {
        measure: `latency on DynamoDB Local, ${write.label} (median)`,
        unit: 'ms',
        ours: write.ours.latency.median,
        powertools: write.powertools.latency.median,
        target: '',
        met: undefined,
      },
    )
  }
  for (const testCase of results.cpu.filter((item) => item.mode === 'send')) {
    const limit = testCase.event === 'small' ? 0.5 : 0.2
    rows.push({
      measure: `library CPU, ${testCase.label}`,
      unit: 'us',
      ours: testCase.ours.median,
      powertools: testCase.powertools.median,
      target: `at most ${limit === 0.5 ? 'half' : 'a fifth'} of Powertools`,
      met: ratio(testCase.ours.median, testCase.powertools.median) <= limit,
    })
  }
  const { bundle } = results
  rows.push({
    measure: 'minified bundle bytes added',
    unit: 'bytes',
    ours: bundle.added.ours,
    powertools: bundle.added.powertools,
    target: `at most ${formatNumber(BUNDLE_TARGET_BYTES)} bytes (10 KB)`,
    met: bundle.added.ours <= BUNDLE_TARGET_BYTES,
  })
  rows.push({
    measure: 'gzip bundle bytes added',
    unit: 'bytes',
    ours: bundle.addedGzip.ours,
    powertools: bundle.addedGzip.powertools,
    target: '',
    met: undefined,
  })
  rows.push({
    measure: 'fresh-process import time added (median)',
    unit: 'ms',
    ours: bundle.addedImportMs.ours,
    powertools: bundle.addedImportMs.powertools,
    target: '',
    met: undefined,
  })
  const { concurrency } = results
  const worst = (trials: { executions: number }[]) => Math.max(...trials.map((trial) => trial.executions))
  rows.push({
    measure: `most executions in a trial of ${concurrency.duplicates} concurrent duplicates`,
    unit: 'executions',
    ours: worst(concurrency.ours),
    powertools: worst(concurrency.powertools),
    target: 'exactly 1 in every trial',
    met: concurrency.ours.every((trial) => trial.executions === 1),
  })
  return rows
}

const unitText = (value: number, unit: string) =>
  unit === 'bytes'
    ? `${formatNumber(value)} B`
    : unit === 'requests' || unit === 'executions'
      ? formatNumber(value)
      : formatNumber(value, unit === 'us' ? 'µs' : unit)

const metText = (met: boolean | undefined) => (met === undefined ? '' : met ? 'met' : '**missed**')

const table = (header: string[], rows: string[][]) =>
  [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n')

/** The summary table alone, as the README shows it. */
export const summaryTable = (results: BenchResults): string =>
  table(
    ['measure', 'lambda-idempotency', 'Powertools', 'ours / Powertools', 'target', ''],
    summaryRows(results).map((row) => [
      row.measure,
      unitText(row.ours, row.unit),
      unitText(row.powertools, row.unit),
      formatRatio(ratio(row.ours, row.powertools)),
      row.target,
      metText(row.met),
    ]),
  )

/** One line naming the machine, versions and conditions. */
export const environmentLine = (environment: Environment): string => {
  const { versions } = environment
  return [
    `${environment.date}, ${environment.cpuModel} (${environment.cores} cores, ${environment.memoryGiB} GiB), ${environment.os}, Node ${environment.node}`,
    `lambda-idempotency ${versions['lambda-idempotency']} (commit ${environment.commit}${environment.sourceModified ? ', with uncommitted changes in src/' : ''}), @aws-lambda-powertools/idempotency ${versions['@aws-lambda-powertools/idempotency']}, @middy/core ${versions['@middy/core']}, @aws-sdk/client-dynamodb ${versions['@aws-sdk/client-dynamodb']}, esbuild ${versions.esbuild}, DynamoDB Local ${versions['DynamoDB Local']}`,
    `load average (1 min) at the start of each section: ${Object.entries(environment.load)
      .map(([section, load]) => `${section} ${load.toFixed(2)}`)
      .join(', ')}`,
  ].join('; ')
}

/** The full Markdown report, docs/benchmarks.md. */
export const markdownReport = (results: BenchResults): string => {
  const { environment, requests, latency, cpu, bundle, concurrency } = results
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`
  const ms = (value: number) => formatNumber(value)
  const us = (value: number) => formatNumber(value)
  const lines: string[] = []
  lines.push('# Benchmarks: lambda-idempotency and Powertools idempotency, side by side')
  lines.push('')
  lines.push(
    '<!-- Generated by `npm run bench` (bench/run.ts): edit the script, not this file. -->',
    '',
    `Measured ${environmentLine(environment)}.`,
    '',
    'Both libraries run in one process, on the same events, against the same DynamoDB Local (or the same',
    'in-process fake client), with their variants interleaved in random order so that machine noise hits',
    'both. Ratios are ours / Powertools: below 1 means lambda-idempotency does less.',
    '',
    '![benchmarks](benchmarks.svg)',
    '',
    '## Summary',
    '',
    summaryTable(results),
    '',
    '## 1. DynamoDB requests per invocation',
    '',
    `Counted by a middleware on each client's \`middlewareStack\` against DynamoDB Local, ${requests[0]?.ours.n ?? 0} repetitions of each phase per library (median; max in brackets).`,
    '',
    table(
      ['phase', 'lambda-idempotency', 'commands', 'Powertools', 'commands'],
      requests.map((phase) => [
        phase.label,
        `${phase.ours.median} (${phase.ours.max})`,
        phase.oursCommands,
        `${phase.powertools.median} (${phase.powertools.max})`,
        phase.powertoolsCommands,
      ]),
    ),
    '',
    '## 2. Latency against DynamoDB Local',
    '',
    `Wall time per invocation of the ${kb(environment.smallEventBytes)} HTTP API event through each library's Middy middleware, ${latency[0]?.ours.n ?? 0} calls each, milliseconds. A bare \`PutItem\` on the same DynamoDB Local takes ${ms(latency[0]?.putItem.median ?? Number.NaN)} ms (median), for scale: DynamoDB Local is slower than DynamoDB, so these figures are dominated by it.`,
    '',
    table(
      [
        'phase',
        'ours median',
        'ours p99',
        'Powertools median',
        'Powertools p99',
        'ratio (median)',
        'ratio (p99)',
      ],
      latency.map((phase) => [
        phase.label,
        ms(phase.ours.median),
        ms(phase.ours.p99),
        ms(phase.powertools.median),
        ms(phase.powertools.p99),
        formatRatio(ratio(phase.ours.median, phase.powertools.median)),
        formatRatio(ratio(phase.ours.p99, phase.powertools.p99)),
      ]),
    ),
    '',
    ...writeSection(results.write),
    '## 3. CPU per invocation',
    '',
    'Library overhead in microseconds of CPU (`process.cpuUsage()`, user + system) per call: each round runs a batch',
    "through the bare Middy handler, ours and Powertools in a random order, and a library's figure for the",
    "round is its CPU per call minus the bare handler's in that round; median and p99 over the rounds, after",
    'warm-up rounds. A minor GC runs before each batch (not a forced full GC: that also throws away compiled',
    'code, which a warm Lambda never does). The DynamoDB client is in process (no socket), answering from an in-memory table:',
    '',
    "- **library only**: `client.send` itself answers, so the figure is the library's own work (building",
    '  commands, hashing, parsing, encoding) and nothing of the AWS SDK;',
    "- **with SDK stack**: a middleware at the end of the SDK's `initialize` step answers, so each request also",
    "  pays the SDK's per-command middleware work (both libraries send the same number of requests).",
    '',
    "Both figures include the fake table's own work (a few µs per call, the same requests for both libraries).",
    '',
    `Events: the ${kb(environment.smallEventBytes)} HTTP API event of \`events/http-v2-post-payment.json\` with the key in the`,
    `\`Idempotency-Key\` header, and the same event carrying a ${kb(environment.largeBodyBytes)} JSON body (an order with`,
    'many line items), used as the fingerprint (key in the header, body validated) or as the key itself.',
    '',
  )
  for (const mode of ['send', 'stack'] as const) {
    lines.push(`### ${mode === 'send' ? 'Library only' : 'With SDK stack'}`, '')
    lines.push(
      table(
        [
          'case',
          'calls x rounds',
          'ours median',
          'ours p99',
          'Powertools median',
          'Powertools p99',
          'ratio (median)',
          'bare handler',
        ],
        cpu
          .filter((item) => item.mode === mode)
          .map((item) => [
            item.label,
            `${item.callsPerBatch} x ${item.rounds}`,
            us(item.ours.median),
            us(item.ours.p99),
            us(item.powertools.median),
            us(item.powertools.p99),
            formatRatio(ratio(item.ours.median, item.powertools.median)),
            us(item.bare.median),
          ]),
      ),
      '',
    )
  }
  lines.push(
    '## 4. Bundle size and import time',
    '',
    'Each handler of `bench/handlers/` bundled with esbuild (minified, ESM, Node 22, `@aws-sdk/*` external since',
    'the Lambda runtime provides it, **Middy bundled in all three**). The baseline is the same handler with Middy',
    'and a DynamoDB client but no idempotency. Import time: `await import()` of the bundle in a fresh `node`',
    `process, ${bundle.spawns} spawns per bundle, interleaved, after \`@aws-sdk/client-dynamodb\` is loaded (all three load it,`,
    "and it takes about 150 ms: timed with it, the libraries' few milliseconds were lost in its noise); any other package a",
    'bundle loads is timed with it.',
    '',
    table(
      ['handler', 'minified', 'added', 'gzip', 'added (gzip)', 'import median', 'import p99'],
      (['baseline', 'ours', 'powertools'] as const).map((variant) => [
        variant === 'ours'
          ? 'lambda-idempotency'
          : variant === 'powertools'
            ? 'Powertools'
            : 'baseline (Middy only)',
        `${formatNumber(bundle.bytes[variant])} B`,
        variant === 'baseline' ? '' : `${formatNumber(bundle.added[variant])} B`,
        `${formatNumber(bundle.gzipBytes[variant])} B`,
        variant === 'baseline' ? '' : `${formatNumber(bundle.addedGzip[variant])} B`,
        `${ms(bundle.importMs[variant].median)} ms`,
        `${ms(bundle.importMs[variant].p99)} ms`,
      ]),
    ),
    '',
    'Where the bytes come from (minified bytes in the bundle, by package):',
    '',
    table(
      ['handler', 'sources'],
      (['ours', 'powertools'] as const).map((variant) => [
        variant === 'ours' ? 'lambda-idempotency' : 'Powertools',
        bundle.inputs[variant].map((input) => `${input.source} ${formatNumber(input.bytes)} B`).join(', '),
      ]),
    ),
    '',
    `lambda-idempotency by file: ${bundle.oursFiles.map((input) => `${input.source.replace('src/', '')} ${formatNumber(input.bytes)} B`).join(', ')}.`,
    '',
    ...entryPointSection(bundle),
    `## 5. Concurrency: ${concurrency.duplicates} concurrent duplicates`,
    '',
    `${concurrency.trials} trials per library (alternating): ${concurrency.duplicates} identical requests (same key, same body) started at once through the Middy middleware against DynamoDB Local; the handler takes ${concurrency.handlerMs} ms, so duplicates arrive while the first call runs. Both libraries answer a duplicate that finds the first call in progress at once (ours: 409 problem response; Powertools: \`IdempotencyAlreadyInProgressError\`).`,
    '',
    table(
      [
        'library',
        'trials with exactly 1 execution',
        'executions per trial (min / median / max)',
        '2xx answers (median)',
        'in-progress answers (median)',
        'other answers',
      ],
      (['ours', 'powertools'] as const).map((library) => {
        const trials = concurrency[library]
        const executions = summarize(trials.map((trial) => trial.executions))
        const other: Record<string, number> = {}
        for (const trial of trials) {
          for (const [name, count] of Object.entries(trial.other)) other[name] = (other[name] ?? 0) + count
        }
        return [
          library === 'ours' ? 'lambda-idempotency' : 'Powertools',
          `${trials.filter((trial) => trial.executions === 1).length} / ${trials.length}`,
          `${executions.min} / ${executions.median} / ${executions.max}`,
          formatNumber(summarize(trials.map((trial) => trial.succeeded)).median),
          formatNumber(summarize(trials.map((trial) => trial.inProgress)).median),
          Object.entries(other)
            .map(([name, count]) => `${name}: ${count}`)
            .join(', ') || 'none',
        ]
      }),
    ),
    '',
    "## 6. Where lambda-idempotency's CPU goes",
    '',
    'The steps its middleware takes on these events, each timed alone in a loop (the same library functions,',
    'CPU per operation, median of 11 batches; the 100 KB steps get a fresh body on every call, as the middleware',
    'does). Rows marked "for scale" or "for comparison" are not steps ours takes. The two `new Error()` rows show',
    "what the `HttpAnswer` error that `idempotent()` throws on a replay (to reach Middy's error path, so that",
    'http-cors and http-error-handler still decorate the answer) costs with a stack trace, and without one as it',
    'is made now.',
    '',
    table(
      ['event', 'step', 'µs per operation'],
      results.parts.map((part) => [part.group, part.step, us(part.us)]),
    ),
    '',
    '## How each side was configured',
    '',
    'Both wrap the same handler (`bench/sides/payment.ts`) with Middy 7 (`timeoutEarlyInMillis: 0` in the',
    'in-process measurements, so no per-call timer adds noise to either side) and use the same',
    '`DynamoDBClient`-shaped client per measurement. Each side gets its own table with the default attribute names.',
    '',
    '- **lambda-idempotency** (`bench/sides/ours.ts`): `idempotent({ store: new DynamoDBStore({ client, tableName }) })`.',
    '  On API Gateway events the key is the `Idempotency-Key` header, the fingerprint is method + path + the',
    '  canonical JSON of the body (SHA-256), and the caller (JWT `sub`) scopes the key, all by default. For',
    '  "100 KB body as key": `key: (event) => hashJson(event.body)` (the canonical JSON of the text, never',
    '  parsed into objects), `fingerprint: false`. Local',
    '  cache: `localCache: 1000`. Everything else at its default (24 h retention).',
    '- **Powertools** (`bench/sides/powertools.ts`): `makeHandlerIdempotent({ persistenceStore: new',
    '  DynamoDBPersistenceLayer({ tableName, awsSdkV3Client: client }), config })` with `new IdempotencyConfig({',
    "  eventKeyJmesPath: 'headers.\"idempotency-key\"', payloadValidationJmesPath: 'powertools_json(body)',",
    '  throwOnNoIdempotencyKey: true })`, as its documentation recommends for a key in a header with payload',
    "  validation. For \"100 KB body as key\": `eventKeyJmesPath: 'powertools_json(body)'` (the docs' advice for",
    '  JSON APIs), no payload validation. Local cache: `useLocalCache: true` (default `maxLocalCacheSize` 1000).',
    '  Everything else at its default (MD5, 1 h expiry).',
    '',
    'Raw figures of every run: `bench/results/` (git-ignored).',
    '',
  )
  return lines.join('\n')
}

const escapeXml = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;')

/**
 * The chart, docs/benchmarks.svg: one row per summary measure, two bars (ours, Powertools) scaled to
 * the larger of the pair, each labelled with its value; the ratio and the target verdict on the right.
 * Hand-written SVG, no chart library.
 */
export const svgChart = (results: BenchResults): string => {
  const rows = summaryRows(results)
  const width = 1040
  const labelWidth = 420
  const barWidth = 400
  const rowHeight = 38
  const top = 78
  const height = top + rows.length * rowHeight + 46
  const colors = { ours: '#1c7ed6', powertools: '#f08c00' }
  const parts: string[] = []
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="-apple-system, Segoe UI, Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="16" y="26" font-size="17" font-weight="600" fill="#212529">lambda-idempotency vs @aws-lambda-powertools/idempotency ${escapeXml(results.environment.versions['@aws-lambda-powertools/idempotency'] ?? '')}</text>`,
    `<text x="16" y="46" fill="#495057">Each pair is scaled to its larger value; lower is better. Ratio = ours / Powertools.</text>`,
    `<rect x="${labelWidth}" y="56" width="12" height="12" fill="${colors.ours}"/><text x="${labelWidth + 18}" y="66" fill="#212529">lambda-idempotency</text>`,
    `<rect x="${labelWidth + 160}" y="56" width="12" height="12" fill="${colors.powertools}"/><text x="${labelWidth + 178}" y="66" fill="#212529">Powertools</text>`,
  )
  rows.forEach((row, index) => {
    const y = top + index * rowHeight
    const scale = Math.max(Math.abs(row.ours), Math.abs(row.powertools)) || 1
    if (index % 2 === 1)
      parts.push(`<rect x="0" y="${y - 2}" width="${width}" height="${rowHeight}" fill="#f8f9fa"/>`)
    parts.push(`<text x="16" y="${y + 20}" fill="#212529">${escapeXml(row.measure)}</text>`)
    for (const [offset, side] of [
      [0, 'ours'],
      [16, 'powertools'],
    ] as const) {
      const value = row[side]
      const length = Math.max(0, (Math.max(0, value) / scale) * (barWidth - 90))
      parts.push(
        `<rect x="${labelWidth}" y="${y + offset + 2}" width="${length.toFixed(1)}" height="13" fill="${colors[side]}"/>`,
        `<text x="${(labelWidth + length + 6).toFixed(1)}" y="${y + offset + 13}" fill="#343a40">${escapeXml(unitText(value, row.unit))}</text>`,
      )
    }
    const verdict = row.met === undefined ? '' : row.met ? 'target met' : 'target missed'
    parts.push(
      `<text x="${labelWidth + barWidth + 20}" y="${y + 14}" fill="#212529">${escapeXml(formatRatio(ratio(row.ours, row.powertools)))}</text>`,
      `<text x="${labelWidth + barWidth + 20}" y="${y + 29}" fill="${row.met === false ? '#c92a2a' : '#2b8a3e'}">${escapeXml(verdict)}</text>`,
    )
  })
  const { environment } = results
  parts.push(
    `<text x="16" y="${height - 24}" fill="#495057">${escapeXml(`${environment.date}, ${environment.cpuModel}, ${environment.cores} cores, Node ${environment.node}; CPU with an in-process fake client (library only); latency and concurrency on DynamoDB Local.`)}</text>`,
    `<text x="16" y="${height - 8}" fill="#495057">${escapeXml('Generated by npm run bench (bench/run.ts). Full tables: docs/benchmarks.md.')}</text>`,
    '</svg>',
    '',
  )
  return parts.join('\n')
}

// The library's own bytes per entry point (older results files have none).
const entryPointSection = (bundle: BundleResult): string[] =>
  bundle.entryPoints === undefined
    ? []
    : [
        "lambda-idempotency's own minified bytes per entry point (esbuild, tree-shaken, every package external, so Middy, the AWS SDK and redis are not counted):",
        '',
        table(
          ['entry point', 'minified', 'by file'],
          bundle.entryPoints.map((point) => [
            point.entry,
            `${formatNumber(point.bytes)} B`,
            point.files
              .map((file) => `${file.source.replace('src/', '')} ${formatNumber(file.bytes)}`)
              .join(', '),
          ]),
        ),
        '',
      ]

// A first call whose handler writes to DynamoDB (older results files have none).
const writeSection = (write: WriteResult | undefined): string[] =>
  write === undefined
    ? []
    : [
        '## 2b. A first call that writes to DynamoDB',
        '',
        `The same HTTP API event, a fresh key on every call, and a handler that creates an order in a second table of the same DynamoDB Local (a \`Put\` with \`attribute_not_exists(id)\`). Powertools: its claim, the handler's own \`PutItem\`, its completion. lambda-idempotency with transactional completion: its claim, then the order and the completion in one \`TransactWriteItems\` (\`currentClaim(context).transactWrite(client, [order], result)\`), so the order and the stored response commit together or not at all. ${write.ours.latency.n} calls each, interleaved in random order after a warm-up; requests counted by the middleware on each client's stack (median; max in brackets), latency in milliseconds.`,
        '',
        table(
          ['library', 'requests', 'commands', 'latency median', 'latency p99'],
          (['ours', 'powertools'] as const).map((library) => [
            library === 'ours' ? 'lambda-idempotency' : 'Powertools',
            `${write[library].requests.median} (${write[library].requests.max})`,
            write[library].commands,
            formatNumber(write[library].latency.median),
            formatNumber(write[library].latency.p99),
          ]),
        ),
        '',
        `Ratio (median latency): ${formatRatio(ratio(write.ours.latency.median, write.powertools.latency.median))}. What the transaction buys is one request less and the guarantee (the order and the stored response commit together, so a crash between them cannot run the handler twice), not speed or capacity: DynamoDB Local runs a transaction more slowly than single writes, and on DynamoDB a transactional write costs twice the write capacity of a plain one (for items under 1 KB: 1 + 2 x 2 = 5 units against Powertools' 3).`,
        '',
      ]
