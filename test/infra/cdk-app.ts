import { readFileSync } from 'node:fs'
import { App } from 'aws-cdk-lib'

/**
 * An App with the context of `cdk.json` (feature flags included), as `cdk synth` builds it: a bare
 * `new App()` would ignore that file. Bundling is skipped unless asked for, which keeps the stack
 * tests fast; one test bundles for real.
 */
export const testApp = (options: { bundling?: boolean } = {}): App => {
  const { context } = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
    context: Record<string, unknown>
  }
  return new App({
    context: { ...context, ...(options.bundling ? {} : { 'aws:cdk:bundling-stacks': [] }) },
  })
}
