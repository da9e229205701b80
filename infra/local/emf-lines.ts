/**
 * Whether a line of the functions' output is an Embedded Metric Format document (the
 * `{"_aws":{...}}` lines of `infra/functions/metrics.ts`). In AWS, CloudWatch Logs turns them into
 * metrics; on a terminal they are ~300 characters of noise between the story lines.
 *
 * @example
 * isEmfLine('{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]},"FunctionName":"Payment"}') // true
 * isEmfLine("charge created { paymentId: 'pay_1' }") // false
 */
export const isEmfLine = (line: string): boolean => line.trimStart().startsWith('{"_aws":')

const emfPrefix = '{"_aws":'

/** Options of {@link emfLineFilter}. */
export interface EmfLineFilterOptions {
  /** Where the kept text goes, e.g. the original `process.stdout.write`. Required. */
  write: (text: string) => void
  /** Keep the EMF lines too (`npm start -- --emf`). @default false */
  showEmf?: boolean
}

/**
 * A writer that drops EMF lines and passes everything else on unchanged. Text may arrive in any
 * chunks (a worker thread's output is piped, not written line by line): a complete line is decided
 * at its newline, and a trailing piece is held back only while it could still become an EMF line.
 *
 * @example
 * const filter = emfLineFilter({ write: (text) => out.push(text) })
 * filter('charge created\n{"_aws":{}}\n') // out: ['charge created\n']
 */
export const emfLineFilter = (options: EmfLineFilterOptions): ((text: string) => void) => {
  const { write, showEmf = false } = options
  if (showEmf) return write
  let pending = ''
  return (text) => {
    const lines = (pending + text).split('\n')
    pending = lines.pop() ?? ''
    const kept = lines.filter((line) => !isEmfLine(line)).map((line) => `${line}\n`)
    // A tail that cannot start an EMF line (a prompt, a partial story line) is not held back.
    const trimmed = pending.trimStart()
    if (!(emfPrefix.startsWith(trimmed) || trimmed.startsWith(emfPrefix))) {
      kept.push(pending)
      pending = ''
    }
    const output = kept.join('')
    if (output !== '') write(output)
  }
}

/**
 * Routes a stream's writes (`process.stdout`) through {@link emfLineFilter}, so the local runner hides
 * the functions' EMF lines wherever they are written from (`console.log`, `process.stdout.write`, a
 * worker thread's piped output). The deployed functions are untouched: they keep printing EMF.
 * Returns a function that restores the stream.
 *
 * @example
 * const restore = hideEmfLines(process.stdout, { showEmf: process.env.SHOW_EMF === '1' })
 */
export const hideEmfLines = (
  stream: NodeJS.WriteStream,
  options: { showEmf?: boolean } = {},
): (() => void) => {
  const original = stream.write
  if (options.showEmf === true) return () => {}
  // A write's callback runs when its kept text is written, or at once when nothing of it was kept.
  let callback: ((error?: Error | null) => void) | undefined
  const filter = emfLineFilter({
    write: (text) => {
      original.call(stream, text, 'utf8', callback)
      callback = undefined
    },
  })
  // A multi-byte character split across two chunks is decoded once both have arrived.
  const decoder = new TextDecoder()
  stream.write = ((chunk: string | Uint8Array, encodingOrCallback?: unknown, maybeCallback?: unknown) => {
    const done = [encodingOrCallback, maybeCallback].find((value) => typeof value === 'function') as
      | ((error?: Error | null) => void)
      | undefined
    callback = done
    filter(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }))
    if (callback !== undefined) {
      // Everything was dropped or held back: nothing to flush, the write is done.
      const pendingCallback = callback
      callback = undefined
      queueMicrotask(() => pendingCallback())
    }
    return true
  }) as typeof stream.write
  return () => {
    stream.write = original
  }
}
