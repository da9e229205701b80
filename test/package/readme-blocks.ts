/** One fenced code block of a Markdown file. */
export interface FencedBlock {
  /** Line of the opening fence (1-based). */
  line: number
  /** The heading the block sits under, `(top)` before the first one. */
  heading: string
  /** The first word of the info string, lower-cased: `ts`, `json`, `sh`... */
  language: string
  /** The block's text, ending with a newline. */
  code: string
}

/** The fenced blocks of a Markdown text (CommonMark fences of backticks or tildes). */
export const fencedBlocks = (markdown: string, source = 'README.md'): FencedBlock[] => {
  const blocks: FencedBlock[] = []
  let heading = '(top)'
  let open: { fence: string; language: string; line: number; lines: string[] } | undefined
  markdown.split(/\r?\n/).forEach((text, index) => {
    if (open === undefined) {
      const fence = /^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)/.exec(text)
      if (fence?.[1] !== undefined) {
        open = { fence: fence[1], language: (fence[2] ?? '').toLowerCase(), line: index + 1, lines: [] }
      } else if (/^ {0,3}#{1,6}\s/.test(text)) {
        heading = text.replace(/^ {0,3}#{1,6}\s+/, '').trim()
      }
      return
    }
    const close = new RegExp(`^ {0,3}${open.fence[0]}{${open.fence.length},}\\s*$`)
    if (!close.test(text)) {
      open.lines.push(text)
      return
    }
    blocks.push({ line: open.line, heading, language: open.language, code: `${open.lines.join('\n')}\n` })
    open = undefined
  })
  if (open !== undefined) throw new Error(`${source}:${open.line}: code block is never closed`)
  return blocks
}

/**
 * The file name a block names in its first line (`// handler.ts`), if any: the README's first
 * handler and its test are two files of a user's project that import each other.
 */
export const namedFile = (block: FencedBlock): string | undefined =>
  /^\/\/ ([a-z][\w.-]*\.ts)$/.exec(block.code.split('\n', 1)[0]?.trim() ?? '')?.[1]
