import { describe, expect, it, vi } from 'vitest'
import { emfMetrics, metricName } from '../../infra/functions/metrics.js'
import { IdempotencyKeyReusedError, MemoryStore, makeIdempotent } from '../../src/index.js'

// What CloudWatch Logs requires of an Embedded Metric Format document (the specification's
// MUSTs): `_aws` with a numeric Timestamp and CloudWatchMetrics directives, each with a
// Namespace, Dimensions (arrays of names of top-level string members) and Metrics (names of
// top-level numeric members).
const emfProblems = (document: Record<string, unknown>): string[] => {
  const problems: string[] = []
  const aws = document._aws as { Timestamp?: unknown; CloudWatchMetrics?: unknown } | undefined
  if (typeof aws !== 'object' || aws === null) return ['no _aws object']
  if (!Number.isInteger(aws.Timestamp)) problems.push('_aws.Timestamp is not epoch milliseconds')
  if (!Array.isArray(aws.CloudWatchMetrics) || aws.CloudWatchMetrics.length === 0) {
    return [...problems, '_aws.CloudWatchMetrics is not a non-empty array']
  }
  for (const directive of aws.CloudWatchMetrics as Record<string, unknown>[]) {
    const { Namespace, Dimensions, Metrics } = directive
    if (typeof Namespace !== 'string' || Namespace.length === 0 || Namespace.length > 255) {
      problems.push(`Namespace ${JSON.stringify(Namespace)}`)
    }
    if (!Array.isArray(Dimensions)) problems.push('Dimensions is not an array')
    for (const set of (Dimensions ?? []) as unknown[]) {
      if (!Array.isArray(set) || set.length > 30) problems.push(`dimension set ${JSON.stringify(set)}`)
      for (const name of (set ?? []) as unknown[]) {
        if (typeof document[name as string] !== 'string')
          problems.push(`dimension ${name} has no string value`)
      }
    }
    if (!Array.isArray(Metrics) || Metrics.length === 0 || Metrics.length > 100) {
      problems.push('Metrics is not an array of 1 to 100 metrics')
    }
    for (const metric of (Metrics ?? []) as { Name?: unknown; Unit?: unknown }[]) {
      if (typeof metric.Name !== 'string' || metric.Name.length === 0 || metric.Name.length > 255) {
        problems.push(`metric name ${JSON.stringify(metric.Name)}`)
      } else if (typeof document[metric.Name] !== 'number') {
        problems.push(`metric ${metric.Name} has no numeric value`)
      }
      if (metric.Unit !== undefined && metric.Unit !== 'Count') problems.push(`unit ${metric.Unit}`)
    }
  }
  return problems
}

describe('EMF metrics of the sample functions', () => {
  it('writes one valid EMF line per outcome, with the namespace, the function dimension and the timestamp', async () => {
    const lines: string[] = []
    const work = vi.fn(async (payment: { key: string; amount: number }) => ({ charged: payment.amount }))
    const chargeOnce = makeIdempotent(work, {
      name: 'charge',
      store: new MemoryStore(),
      key: (payment) => payment.key,
      onEvent: emfMetrics({
        functionName: 'Payment',
        write: (line) => lines.push(line),
        now: () => 1_700_000_000_000,
      }),
    })

    await chargeOnce({ key: 'order-1', amount: 100 })
    await chargeOnce({ key: 'order-1', amount: 100 })

    expect(work).toHaveBeenCalledTimes(1)
    const documents = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
    expect(documents.map((document) => document.outcome)).toEqual(['claimed', 'completed', 'replayed'])
    for (const document of documents) {
      expect(emfProblems(document)).toEqual([])
      expect(document._aws).toMatchObject({
        Timestamp: 1_700_000_000_000,
        CloudWatchMetrics: [{ Namespace: 'LambdaIdempotencySample', Dimensions: [['FunctionName']] }],
      })
      expect(document.FunctionName).toBe('Payment')
    }
    expect(documents[2]).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Metrics: [{ Name: 'IdempotencyReplayed', Unit: 'Count' }] }] },
      IdempotencyReplayed: 1,
      cached: false,
    })
    expect(lines.every((line) => !line.includes('\n'))).toBe(true)
  })

  it('never writes the raw key or the body, only the hashed record id', async () => {
    const lines: string[] = []
    const rawKey = 'customer-4711-secret-order-key'
    const secretBody = 'card-4242424242424242'
    const chargeOnce = makeIdempotent(
      async (payment: { key: string; card: string }) => ({ ok: payment.card }),
      {
        name: 'charge',
        store: new MemoryStore(),
        key: (payment) => payment.key,
        onEvent: emfMetrics({ functionName: 'Payment', write: (line) => lines.push(line) }),
      },
    )

    await chargeOnce({ key: rawKey, card: secretBody })
    await chargeOnce({ key: rawKey, card: secretBody })
    await expect(chargeOnce({ key: rawKey, card: 'another-card' })).rejects.toThrow(IdempotencyKeyReusedError)

    const outcomes = lines.map((line) => (JSON.parse(line) as { outcome: string }).outcome)
    expect(outcomes).toEqual(['claimed', 'completed', 'replayed', 'mismatch'])
    for (const line of lines) {
      expect(line).not.toContain(rawKey)
      expect(line).not.toContain(secretBody)
      expect(line).not.toContain('another-card')
      expect((JSON.parse(line) as { idempotencyId: string }).idempotencyId).toMatch(/^[0-9a-f]{64}$/)
    }
  })

  it('names every outcome as a CloudWatch metric in PascalCase', () => {
    expect(metricName('in-progress')).toBe('IdempotencyInProgress')
    expect(metricName('claim-failed')).toBe('IdempotencyClaimFailed')
    expect(metricName('replayed')).toBe('IdempotencyReplayed')
  })

  it('writes to standard output by default, as Lambda expects EMF', () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    try {
      emfMetrics({ functionName: 'OrderConsumer' })({ outcome: 'in-progress', id: 'abc' })
      expect(write).toHaveBeenCalledTimes(1)
      const line = String(write.mock.calls[0]?.[0])
      expect(line.endsWith('\n')).toBe(true)
      expect(JSON.parse(line)).toMatchObject({ FunctionName: 'OrderConsumer', IdempotencyInProgress: 1 })
    } finally {
      write.mockRestore()
    }
  })
})
