import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import { packageEntries, readPackageJson, repoRoot } from './package-entries.js'
import { fencedBlocks, namedFile } from './readme-blocks.js'

// Every ```ts block of README.md compiles against the current sources, so the docs cannot drift
// from the API. Each block is a module of its own that imports every name it uses, as a user would
// write it: the package, its peers, and the user's own code (`charge`, `store`...) from the
// user's modules in readme-modules/, next to which the block is compiled. No global declarations:
// a name a block neither defines nor imports fails the test (TS2304).

interface Snippet {
  /** README line of the opening fence. */
  line: number
  /** The heading the block sits under. */
  heading: string
  code: string
  /** Virtual file the block is compiled as: next to this test, so node_modules resolves. */
  fileName: string
}

const readmePath = join(repoRoot, 'README.md')
/** The user's own modules that blocks import (`./payments.js`...); the blocks are compiled here. */
const modulesDir = join(repoRoot, 'test', 'package', 'readme-modules')
const typescriptLanguages = new Set(['ts', 'typescript', 'mts'])

// A block whose first line is a file-name comment (`// handler.ts`) is compiled as that file, so
// that the README's first handler and its test import each other as a user's two files would.
const extractSnippets = (markdown: string): Snippet[] =>
  fencedBlocks(markdown)
    .filter((block) => typescriptLanguages.has(block.language))
    .map((block) => ({
      line: block.line,
      heading: block.heading,
      code: block.code,
      fileName: join(modulesDir, namedFile(block) ?? `readme-snippet-line-${block.line}.ts`),
    }))

const pkg = readPackageJson()
const entries = packageEntries(pkg)

/**
 * Points imports of the package (`'lambda-idempotency'`, `'lambda-idempotency/cdk'`) at the source
 * of that exports entry. A subpath the exports map does not have is an error naming `where`.
 */
const rewriteImports = (code: string, fileName: string, where: string): string =>
  code.replace(
    new RegExp(`(['"])(${pkg.name}(?:/[^'"]*)?)\\1`, 'g'),
    (_, quote: string, specifier: string) => {
      const entry = entries.find((candidate) => candidate.specifier === specifier)
      if (entry === undefined) {
        throw new Error(`${where} imports '${specifier}', which package.json "exports" does not have`)
      }
      const path = relative(dirname(fileName), entry.source).replace(/\.ts$/, '.js')
      return `${quote}${path.startsWith('.') ? path : `./${path}`}${quote}`
    },
  )

const snippets = extractSnippets(readFileSync(readmePath, 'utf8'))

/** The user's modules: real files, compiled here (they import the package as a user would). */
const userModules = readdirSync(modulesDir)
  .filter((file) => file.endsWith('.ts'))
  .map((file) => join(modulesDir, file))

/** One program for the user's modules and every snippet, with the repository's strict options. */
const compile = () => {
  const config = ts.getParsedCommandLineOfConfigFile(join(repoRoot, 'tsconfig.json'), undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'))
    },
  })
  if (config === undefined) throw new Error('tsconfig.json could not be read')
  // Each block is a module even without import or export: blocks never see each other's names.
  const options: ts.CompilerOptions = {
    ...config.options,
    noEmit: true,
    moduleDetection: ts.ModuleDetectionKind.Force,
  }
  const sources = new Map([
    ...userModules.map((file): [string, string] => [
      file,
      rewriteImports(readFileSync(file, 'utf8'), file, relative(repoRoot, file)),
    ]),
    ...snippets.map((snippet): [string, string] => [
      snippet.fileName,
      rewriteImports(snippet.code, snippet.fileName, `README.md:${snippet.line}`),
    ]),
  ])
  const host = ts.createCompilerHost(options)
  const { getSourceFile, fileExists, readFile } = host
  host.getSourceFile = (fileName, language, ...rest) => {
    const text = sources.get(fileName)
    return text === undefined
      ? getSourceFile.call(host, fileName, language, ...rest)
      : ts.createSourceFile(fileName, text, language)
  }
  host.fileExists = (fileName) => sources.has(fileName) || fileExists.call(host, fileName)
  host.readFile = (fileName) => sources.get(fileName) ?? readFile.call(host, fileName)
  return ts.createProgram({ rootNames: [...sources.keys()], options, host })
}

const program = compile()

/** Diagnostics of one file, each as "README.md:<line>:<column> TS<code>: <message>". */
const diagnosticsOf = (fileName: string, toLocation: (line: number, column: number) => string): string[] => {
  const sourceFile = program.getSourceFile(fileName)
  if (sourceFile === undefined) return [`${fileName} is not part of the program`]
  return [...program.getSyntacticDiagnostics(sourceFile), ...program.getSemanticDiagnostics(sourceFile)].map(
    (diagnostic) => {
      const { line, character } = sourceFile.getLineAndCharacterOfPosition(diagnostic.start ?? 0)
      const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')
      return `${toLocation(line, character)} TS${diagnostic.code}: ${message}`
    },
  )
}

describe('README.md TypeScript snippets', () => {
  it('finds the snippets, each with its heading, and the user modules they import', () => {
    expect(snippets.length).toBeGreaterThan(0)
    expect(snippets.some((snippet) => snippet.code.includes(`from '${pkg.name}'`))).toBe(true)
    // A block named as a file (`// handler.ts`) must not hide a user module of the same name.
    const hidden = snippets.filter((snippet) => userModules.includes(snippet.fileName))
    expect(hidden.map((snippet) => `README.md:${snippet.line}`)).toEqual([])
    // Every user module is one that some block imports: no leftover fixtures.
    const imported = (file: string) => snippets.some((snippet) => snippet.code.includes(`'./${file}'`))
    const specifiers = userModules.map((file) => relative(modulesDir, file).replace(/\.ts$/, '.js'))
    expect(specifiers.filter((file) => !imported(file))).toEqual([])
  })

  // The first test pays for type-checking the whole program: room for a loaded 2-core machine.
  it('compiles the user modules the snippets import', { timeout: 180_000 }, () => {
    const global = [...program.getOptionsDiagnostics(), ...program.getGlobalDiagnostics()].map((diagnostic) =>
      ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'),
    )
    expect(global).toEqual([])
    expect(
      userModules.flatMap((file) =>
        diagnosticsOf(file, (line, column) => `${relative(repoRoot, file)}:${line + 1}:${column + 1}`),
      ),
    ).toEqual([])
  })

  it.each(snippets)('compiles the block at README.md line $line (under $heading)', (snippet) => {
    // The code starts on the line after the fence.
    expect(
      diagnosticsOf(snippet.fileName, (line, column) => `README.md:${snippet.line + 1 + line}:${column + 1}`),
    ).toEqual([])
  })
})
