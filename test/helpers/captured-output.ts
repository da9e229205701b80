import { format } from 'node:util'
import { type MockInstance, vi } from 'vitest'
import { isEmfLine } from '../../infra/local/emf-lines.js'

// Output a test causes on purpose (the sample functions' EMF and log lines, Node's warnings) is
// captured where it is caused and asserted there, so `npm test` prints only what went wrong.
// Everything else passes through untouched.

/** Lines written through one `console` method, formatted as `console` would print them. */
export interface CapturedConsole {
  readonly lines: string[]
  restore(): void
}

/**
 * Captures `console[method]` instead of printing it.
 *
 * @example
 * const info = captureConsole('info')
 * await sample.pay(...)
 * expect(info.lines).toContainEqual(expect.stringMatching(/^charge created/))
 */
export const captureConsole = (method: 'log' | 'info' | 'warn' | 'error'): CapturedConsole => {
  const lines: string[] = []
  const spy = vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
    lines.push(format(...args))
  })
  return { lines, restore: () => spy.mockRestore() }
}

/** The EMF documents written to `process.stdout`, parsed. */
export interface CapturedEmf {
  readonly documents: Record<string, unknown>[]
  /** The metric name of each document, e.g. `IdempotencyReplayed`, in order. */
  metricNames(): string[]
  restore(): void
}

/**
 * Captures the EMF lines the sample functions write to `process.stdout` (`infra/functions/metrics.ts`),
 * and lets every other write through.
 *
 * @example
 * const emf = captureEmf()
 * await pay('k1') ; await pay('k1')
 * expect(emf.metricNames()).toContain('IdempotencyReplayed')
 */
export const captureEmf = (): CapturedEmf => {
  const documents: Record<string, unknown>[] = []
  const original = process.stdout.write.bind(process.stdout)
  const spy: MockInstance = vi.spyOn(process.stdout, 'write')
  spy.mockImplementation(((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')
    const lines = text.split('\n').filter((line) => line !== '')
    if (lines.length > 0 && lines.every(isEmfLine)) {
      for (const line of lines) documents.push(JSON.parse(line) as Record<string, unknown>)
      const callback = rest.find((value) => typeof value === 'function') as (() => void) | undefined
      callback?.()
      return true
    }
    return (original as (...args: unknown[]) => boolean)(chunk, ...rest)
  }) as typeof process.stdout.write)
  return { documents, metricNames: () => emfMetricNames(documents), restore: () => spy.mockRestore() }
}

/**
 * The metric names that EMF documents (or the EMF lines among output lines) declare.
 *
 * @example
 * expect(emfMetricNames(functionLines)).toContain('IdempotencyReplayed')
 */
export const emfMetricNames = (documents: (Record<string, unknown> | string)[]): string[] =>
  documents
    .flatMap((document) =>
      typeof document !== 'string' ? [document] : isEmfLine(document) ? [JSON.parse(document)] : [],
    )
    .flatMap((document) =>
      ((document._aws as { CloudWatchMetrics?: { Metrics?: { Name: string }[] }[] })?.CloudWatchMetrics ?? [])
        .flatMap((directive) => directive.Metrics ?? [])
        .map((metric) => metric.Name),
    )

/** A warning Node would print to stderr, as `process.emitWarning` received it. */
export interface CapturedWarning {
  name: string
  message: string
}

/**
 * Captures `process.emitWarning` (Node's ExperimentalWarning, DeprecationWarning...) instead of
 * printing it. A warning a module emits when it is first loaded needs the capture before the import:
 * call it from `vi.hoisted`.
 *
 * @example
 * const warnings = await vi.hoisted(async () => (await import('../helpers/captured-output.js')).captureWarnings())
 * expect(warnings.list).toEqual([{ name: 'ExperimentalWarning', message: expect.stringMatching(/^SQLite/) }])
 */
export const captureWarnings = (): { readonly list: CapturedWarning[]; restore(): void } => {
  const list: CapturedWarning[] = []
  const spy = vi.spyOn(process, 'emitWarning').mockImplementation(((
    warning: string | Error,
    typeOrOptions?: string | { type?: string },
  ) => {
    const name =
      warning instanceof Error
        ? warning.name
        : typeof typeOrOptions === 'string'
          ? typeOrOptions
          : (typeOrOptions?.type ?? 'Warning')
    list.push({ name, message: warning instanceof Error ? warning.message : String(warning) })
  }) as typeof process.emitWarning)
  return { list, restore: () => spy.mockRestore() }
}

/**
 * Output lines grouped into log entries: Node prints an object logged beside a message over
 * several lines (`charge created {`, `  paymentId: …`, `}`), which belong to one entry.
 *
 * @example
 * logEntries(functionLines).filter((entry) => entry.startsWith('order_paid sent') && entry.includes(eventId))
 */
export const logEntries = (lines: string[]): string[] => lines.join('\n').split(/\n(?=[^\s}\]])/)
