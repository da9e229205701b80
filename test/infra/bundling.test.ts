import { execFile } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Template } from 'aws-cdk-lib/assertions'
import { describe, expect, it } from 'vitest'
import { PaymentsStack } from '../../infra/payments-stack.js'
import { testApp } from './cdk-app.js'

const run = promisify(execFile)

describe('PaymentsStack bundling', () => {
  it('bundles each function with the local esbuild into an ESM file that loads on its own', async () => {
    const app = testApp({ bundling: true })
    const stack = new PaymentsStack(app, 'Bundled')
    const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function')
    const assembly = app.synth()

    const bundles = readdirSync(assembly.directory)
      .filter((name) => name.startsWith('asset.'))
      .map((name) => join(assembly.directory, name))
      .filter((directory) => existsSync(join(directory, 'index.mjs')))
    expect(bundles).toHaveLength(Object.keys(functions).length)

    for (const directory of bundles) {
      const code = readFileSync(join(directory, 'index.mjs'), 'utf8')
      expect(code.startsWith("import { createRequire } from 'node:module';")).toBe(true)
      expect(code).toContain('sourceMappingURL=index.mjs.map')
      expect(existsSync(join(directory, 'index.mjs.map'))).toBe(true)

      // The bundle alone, outside the repository, with the environment the stack sets.
      const { stdout } = await run(
        process.execPath,
        ['--input-type=module', '-e', "const m = await import('./index.mjs'); console.log(typeof m.handler)"],
        {
          cwd: directory,
          env: {
            PATH: process.env.PATH,
            AWS_REGION: 'eu-west-1',
            IDEMPOTENCY_TABLE: 'idempotency',
            PAYMENTS_TABLE: 'payments',
            ORDERS_TABLE: 'orders',
            STOCK_TABLE: 'stock',
            ORDER_EVENTS_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/order-events',
          },
        },
      )
      expect(stdout.trim()).toBe('function')
    }
  }, 180_000)
})
