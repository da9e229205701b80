import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { emfMetrics } from '../../infra/functions/metrics.js'
import { emfLineFilter, hideEmfLines, isEmfLine } from '../../infra/local/emf-lines.js'

// `npm start` hides the functions' EMF lines unless asked (--emf, SHOW_EMF=1); the functions
// themselves still print them, as they do in AWS.

const emfLine = (() => {
  const lines: string[] = []
  emfMetrics({ functionName: 'Payment', write: (line) => lines.push(line), now: () => 1 })({
    outcome: 'replayed',
    id: 'f3a1',
  } as Parameters<ReturnType<typeof emfMetrics>>[0])
  const [line] = lines
  if (line === undefined) throw new Error('emfMetrics wrote no line')
  return line
})()

describe('EMF lines on the local console', () => {
  it('recognises the lines the sample functions print for CloudWatch, and nothing else', () => {
    expect(isEmfLine(emfLine)).toBe(true)
    expect(isEmfLine("charge created { paymentId: 'pay_1' }")).toBe(false)
    expect(isEmfLine('{"paymentId":"pay_1"}')).toBe(false)
  })

  it('drops EMF lines and keeps the story lines in order, however the text is chunked', () => {
    const text = `charge created\n${emfLine}\n[api] POST /payments -> 201\n${emfLine}\norder created\n`
    for (const size of [1, 7, 64, text.length]) {
      const out: string[] = []
      const filter = emfLineFilter({ write: (chunk) => out.push(chunk) })
      for (let start = 0; start < text.length; start += size) filter(text.slice(start, start + size))
      expect(out.join('')).toBe('charge created\n[api] POST /payments -> 201\norder created\n')
    }
  })

  it('passes a line without its newline on at once unless it may still become an EMF line', () => {
    const out: string[] = []
    const filter = emfLineFilter({ write: (chunk) => out.push(chunk) })
    filter('stopping...')
    expect(out).toEqual(['stopping...'])
    filter('{"_a')
    expect(out).toEqual(['stopping...'])
    filter('ws":{}}\nnext\n')
    expect(out).toEqual(['stopping...', 'next\n'])
  })

  it('shows everything with showEmf', () => {
    const out: string[] = []
    emfLineFilter({ write: (chunk) => out.push(chunk), showEmf: true })(`a\n${emfLine}\n`)
    expect(out.join('')).toBe(`a\n${emfLine}\n`)
  })

  it('filters a stream until restored, and still calls the callback of a dropped write', async () => {
    const stream = new PassThrough() as unknown as NodeJS.WriteStream
    const read: string[] = []
    ;(stream as unknown as PassThrough).on('data', (chunk: Buffer) => read.push(chunk.toString()))
    const restore = hideEmfLines(stream)
    await new Promise<void>((resolve) => stream.write(`${emfLine}\n`, () => resolve()))
    stream.write(Buffer.from('story\n'))
    restore()
    stream.write(`${emfLine}\n`)
    await new Promise((resolve) => setImmediate(resolve))
    expect(read.join('')).toBe(`story\n${emfLine}\n`)
  })
})
