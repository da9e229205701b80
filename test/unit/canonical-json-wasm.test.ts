import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { compileModule } from '../../wasm/build.js'

describe('the WebAssembly reader of canonical JSON', () => {
  it('is what its source compiles to: src/canonical-json-wasm.ts is in step with wasm/canonical-json.ts', async () => {
    const committed = readFileSync(new URL('../../src/canonical-json-wasm.ts', import.meta.url), 'utf8')
    expect(committed).toBe(await compileModule())
  })
})
