import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository root, with a trailing separator. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url))

/** The fields of package.json the package tests read. */
export interface PackageJson {
  name: string
  version: string
  files: string[]
  exports: Record<string, string | Record<string, string>>
  peerDependencies: Record<string, string>
  peerDependenciesMeta?: Record<string, { optional?: boolean }>
}

/** One JavaScript entry of the exports map. */
export interface PackageEntry {
  /** What users import: `lambda-idempotency` or `lambda-idempotency/cdk`. */
  specifier: string
  /** The exports key: `.` or `./cdk`. */
  subpath: string
  /** The built module in the tarball, e.g. `./dist/cdk.js`. */
  module: string
  /** Its declarations in the tarball, e.g. `./dist/cdk.d.ts`. */
  types: string
  /** Its source in the repository, absolute (`<repo>/src/cdk.ts`): tsc builds dist from src. */
  source: string
}

export const readPackageJson = (): PackageJson =>
  JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as PackageJson

/**
 * The JavaScript entries of the exports map as it is now, so every check follows the map when a
 * subpath is added. `./package.json` is not a module and is left out.
 */
export const packageEntries = (pkg: PackageJson = readPackageJson()): PackageEntry[] =>
  Object.entries(pkg.exports)
    .filter(([subpath]) => subpath !== './package.json')
    .map(([subpath, target]) => {
      const conditions = typeof target === 'string' ? { import: target } : target
      const module = conditions.import ?? conditions.default
      const types = conditions.types
      if (
        module === undefined ||
        !/^\.\/dist\/.+\.js$/.test(module) ||
        types !== module.replace(/\.js$/, '.d.ts')
      ) {
        throw new Error(
          `exports["${subpath}"] must map "types" and "import" to ./dist/<name>.d.ts and ./dist/<name>.js, got ${JSON.stringify(target)}`,
        )
      }
      return {
        specifier: subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`,
        subpath,
        module,
        types,
        source: join(repoRoot, module.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts')),
      }
    })

/** The version of a package installed in the repository's node_modules. */
export const installedVersion = (name: string): string =>
  (
    JSON.parse(readFileSync(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as {
      version: string
    }
  ).version
