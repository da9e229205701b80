import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { canonicalJsonText } from '../../src/canonical-json.js'
import { hashJson } from '../../src/key.js'
import { committedReader, compileReader } from '../../wasm/build.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

describe('the WebAssembly reader of canonical JSON', () => {
  it('is what its source compiles to: src/canonical-json-wasm.ts is in step with wasm/canonical-json.ts', async () => {
    expect(Buffer.from(committedReader()).equals(await compileReader())).toBe(true)
  })

  it('leaves every text to the plain path where WebAssembly cannot run (node --jitless), with the same hashes', () => {
    const text = JSON.stringify({ b: 'x'.repeat(600), a: [1.5, { d: 1, c: 2 }] })
    expect(canonicalJsonText(text)).toBeDefined() // here the reader reads it
    const script = `
      const { canonicalJsonText } = await import('./src/canonical-json.ts')
      const { hashJson } = await import('./src/key.ts')
      const text = ${JSON.stringify(text)}
      console.log(JSON.stringify({ wasm: typeof WebAssembly, read: canonicalJsonText(text) !== undefined, hash: hashJson(text) }))`
    const output = execFileSync(
      process.execPath,
      ['--jitless', '--import', 'tsx', '--input-type=module', '--eval', script],
      { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    )
    expect(JSON.parse(output)).toEqual({ wasm: 'undefined', read: false, hash: hashJson(text) })
  })

  it('compiles in the background when a short text first asks for it, and reads short texts once ready', () => {
    // A fresh process, so the reader is not loaded yet: the first short text takes the plain path
    // and starts the compilation; once it settles, the same text is read by the reader.
    const script = `
      const { canonicalJsonBytes } = await import('./src/canonical-json.ts')
      const text = '{"b": 1, "a": [2.50, "x"]}'
      const before = canonicalJsonBytes(text) === undefined
      let waited = 0
      while (canonicalJsonBytes(text) === undefined && waited < 200) {
        await new Promise((resolve) => setTimeout(resolve, 25))
        waited++
      }
      const after = canonicalJsonBytes(text)
      console.log(JSON.stringify({ before, after: after && Buffer.from(after.bytes).toString('utf8') }))`
    const output = execFileSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '--eval', script],
      {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    expect(JSON.parse(output)).toEqual({ before: true, after: '{"a":[2.5,"x"],"b":1}' })
  })
})
