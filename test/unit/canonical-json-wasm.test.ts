import { describe, expect, it } from 'vitest'
import { committedReader, compileReader } from '../../wasm/build.js'

describe('the WebAssembly reader of canonical JSON', () => {
  it('is what its source compiles to: src/canonical-json-wasm.ts is in step with wasm/canonical-json.ts', async () => {
    expect(Buffer.from(committedReader()).equals(await compileReader())).toBe(true)
  })
})
