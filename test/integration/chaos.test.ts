import { describe, expect, it, vi } from 'vitest'
import { formatChaosReport, runChaos } from '../../infra/local/chaos-run.js'

// A short `npm run chaos`: the same run with few payments and events. Protected, it must find no
// violation; with the sample's transactional completion and derived keys turned off
// (SAMPLE_UNPROTECTED), it must find the double effects they prevent: the proof the checks can fail.

const short = { payments: 8, events: 6, killRate: 0.6, seed: 7 }

describe('the chaos run (short)', () => {
  it('ends invocations at every named point and finds no violation in the protected sample', {
    timeout: 300_000,
  }, async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {})
    const report = await runChaos(short)
    const table = formatChaosReport(report, false)

    expect(report.kills).toBeGreaterThan(0)
    expect(report.byPoint['after-effect']).toBeGreaterThan(0)
    expect(report.checks.map((check) => [check.check, check.violations])).toEqual(
      report.checks.map((check) => [check.check, 0]),
    )
    expect(table.split('\n').at(-1)).toBe(`chaos: ${report.kills} kills, 0 violations`)
  })

  it('finds double effects when the sample runs unprotected', { timeout: 300_000 }, async () => {
    vi.spyOn(console, 'warn').mockImplementation(() => {})
    const report = await runChaos({ ...short, unprotected: true })

    expect(report.byPoint['after-effect']).toBeGreaterThan(0)
    expect(report.violations).toBeGreaterThan(0)
    const doubled = report.checks.filter(
      (check) => check.check.startsWith('provider charges') || check.check.startsWith('orders per event'),
    )
    expect(doubled.some((check) => check.violations > 0)).toBe(true)
  })
})
