import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadEvent } from '../helpers/events.js'
import { repoRoot } from './package-entries.js'

// The demos (README's curls, the banner of `npm start`) and the events of `npm run invoke` share the
// local sample's tables: a demo key that is also an event's key, with another body, turns the
// second into a 422 for someone who follows both.

/** Every Idempotency-Key value a text shows: curl headers, header objects, header lines. */
const keysIn = (text: string): string[] =>
  [...text.matchAll(/idempotency-key['"]?(?::\s*|\s+)['"]?([\w.:-]+)/gi)].map((match) => match[1] ?? '')

/** Every Idempotency-Key header value of an event, single- or multi-value, at any depth. */
const eventKeys = (value: unknown): string[] => {
  if (Array.isArray(value)) return value.flatMap(eventKeys)
  if (typeof value !== 'object' || value === null) return []
  return Object.entries(value).flatMap(([name, field]) =>
    name.toLowerCase() === 'idempotency-key' ? [field].flat().map(String) : eventKeys(field),
  )
}

const eventFiles = readdirSync(join(repoRoot, 'events')).filter((file) => file.endsWith('.json'))
const demos = ['README.md', 'infra/local/start.ts'].map((file) => ({
  file,
  keys: keysIn(readFileSync(join(repoRoot, file), 'utf8')),
}))

describe('demo keys and sample event keys', () => {
  it('finds the keys on both sides', () => {
    for (const demo of demos) expect(demo.keys, demo.file).not.toEqual([])
    expect(eventFiles.flatMap((file) => eventKeys(loadEvent(file)))).not.toEqual([])
  })

  it('uses no key of an event in events/ in a demo', () => {
    const clashes = eventFiles.flatMap((file) =>
      eventKeys(loadEvent(file)).flatMap((key) =>
        demos
          .filter((demo) => demo.keys.includes(key))
          .map((demo) => `${demo.file} uses ${key} of events/${file}`),
      ),
    )
    expect([...new Set(clashes)]).toEqual([])
  })
})
