import { readFileSync } from 'node:fs'

/** A real-shaped event from `events/`, parsed afresh on each call so tests can change it freely. */
export const loadEvent = <T = Record<string, unknown>>(name: string): T =>
  JSON.parse(readFileSync(new URL(`../../events/${name}`, import.meta.url), 'utf8')) as T
