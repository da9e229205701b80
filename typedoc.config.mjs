// @ts-check
import { readFileSync } from 'node:fs'

// One entry point per subpath of the package's exports map, documented from its source file
// (./dist/redis.js -> ./src/redis.ts), so the reference covers exactly what users can import and
// follows the map as subpaths are added.
const { exports } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'))
const entryPoints = Object.values(exports)
  .map((target) => (typeof target === 'string' ? target : (target.import ?? target.default)))
  .filter((target) => typeof target === 'string' && /^\.\/dist\/.+\.js$/.test(target))
  .map((target) => target.replace(/^\.\/dist\//, './src/').replace(/\.js$/, '.ts'))

/** @type {Partial<import('typedoc').TypeDocOptions>} */
const config = {
  entryPoints,
  out: 'docs/api',
  tsconfig: 'tsconfig.build.json',
  readme: 'none',
  // No git remote to link to: links to source lines would be broken.
  disableSources: true,
  includeVersion: true,
  excludePrivate: true,
  excludeInternal: true,
  // Reported as warnings: an export without JSDoc, a type used but not exported, a broken {@link}.
  validation: { notExported: true, invalidLink: true, notDocumented: true },
}

export default config
