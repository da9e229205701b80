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
})
