import { parseArgs } from 'node:util'
import { formatChaosReport, runChaos } from './chaos-run.js'

// `npm run chaos [-- --unprotected --payments 250 --events 120 --kill-rate 0.5 --seed 1]`
const { values } = parseArgs({
  options: {
    unprotected: { type: 'boolean', default: false },
    payments: { type: 'string', default: '250' },
    events: { type: 'string', default: '120' },
    'kill-rate': { type: 'string', default: '0.5' },
    seed: { type: 'string', default: '1' },
    help: { type: 'boolean', default: false },
  },
})
if (values.help) {
  console.log(`npm run chaos -- [options]

  --unprotected     run the sample with SAMPLE_UNPROTECTED=1 (no transactional completion, no derived keys)
  --payments <n>    payments through the API, each retried by its client (default 250)
  --events <n>      order_paid events sent to the queue, each as two messages (default 120)
  --kill-rate <r>   share of invocations ended on purpose, 0 to 1 (default 0.5)
  --seed <n>        seed of the fault plan (default 1)`)
  process.exit(0)
}
const number = (name: string, value: string | undefined, min: number, max: number) => {
  const parsed = Number(value)
  if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
    console.error(`--${name} must be a number from ${min} to ${max}, got ${JSON.stringify(value)}`)
    process.exit(2)
  }
  return parsed
}
const report = await runChaos({
  unprotected: values.unprotected,
  payments: number('payments', values.payments, 1, 100_000),
  events: number('events', values.events, 0, 100_000),
  killRate: number('kill-rate', values['kill-rate'], 0, 1),
  seed: number('seed', values.seed, 0, 2 ** 32),
  log: (line) => console.error(line),
})
console.log(formatChaosReport(report, values.unprotected))
process.exit(report.violations > 0 ? 1 : 0)
