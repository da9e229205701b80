import { execFile } from 'node:child_process'
import { cp, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { readPackageJson, repoRoot } from './package-entries.js'

// Packing and running commands for the package tests (consumer.test.ts, peer-combinations.test.ts).

const pkg = readPackageJson()
const execFileAsync = promisify(execFile)

// npm sets npm_* variables for the scripts it runs (npm test); a nested npm must not inherit the
// repository's configuration from them.
export const childEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^npm_/i.test(name) && name !== 'INIT_CWD' && !name.startsWith('AWS_')) env[name] = value
  }
  return { ...env, ...extra }
}

export const run = async (
  command: string,
  args: string[],
  cwd: string,
  env = childEnv(),
): Promise<string> => {
  try {
    const { stdout } = await execFileAsync(command, args, { cwd, env, maxBuffer: 64 * 1024 * 1024 })
    return stdout
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string }
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}:\n${stdout}\n${stderr}`, { cause: error })
  }
}

// Node as the test runs it (22), for tsc, esbuild and the handler alike.
export const node = (args: string[], cwd: string, env?: NodeJS.ProcessEnv) =>
  run(process.execPath, args, cwd, env)

export interface PackResult {
  tarball: string
  files: string[]
}

/**
 * Packs a clean copy of the repository (package.json, the tsconfigs, src and the `files` entries;
 * no dist) with node_modules linked in: the tarball is what a fresh checkout publishes, and the
 * prepack build never touches the working tree's dist.
 */
export const packCleanCopy = async (workDirectory: string): Promise<PackResult> => {
  const source = join(workDirectory, 'source')
  const paths = new Set(['package.json', 'tsconfig.json', 'tsconfig.build.json', 'src', ...pkg.files])
  paths.delete('dist')
  for (const path of paths) {
    await cp(join(repoRoot, path), join(source, path), { recursive: true, errorOnExist: true, force: false })
  }
  await symlink(join(repoRoot, 'node_modules'), join(source, 'node_modules'), 'dir')
  const output = await run('npm', ['pack', '--json', '--pack-destination', workDirectory], source)
  const [packed] = JSON.parse(output) as { filename: string; files: { path: string }[] }[]
  if (packed === undefined) throw new Error(`npm pack printed no package: ${output}`)
  return {
    tarball: join(workDirectory, packed.filename),
    files: packed.files.map((file) => file.path).sort(),
  }
}
