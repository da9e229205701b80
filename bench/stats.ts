/** Summary statistics of a list of samples, and the small formatting helpers the report shares. */

export interface Summary {
  /** How many samples. */
  n: number
  median: number
  p99: number
  min: number
  max: number
}

/** The `q` quantile (0 to 1) of sorted samples, linear interpolation between neighbours. */
export const quantile = (sorted: readonly number[], q: number): number => {
  if (sorted.length === 0) return Number.NaN
  const position = (sorted.length - 1) * q
  const below = Math.floor(position)
  const above = Math.ceil(position)
  const low = sorted[below] as number
  const high = sorted[above] as number
  return low + (high - low) * (position - below)
}

/** Median, p99, min and max of samples. */
export const summarize = (samples: readonly number[]): Summary => {
  const sorted = [...samples].sort((a, b) => a - b)
  return {
    n: sorted.length,
    median: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    min: sorted[0] ?? Number.NaN,
    max: sorted.at(-1) ?? Number.NaN,
  }
}

/**
 * ours / theirs: 1 when both are 0, `NaN` (shown as n/a) when theirs is 0 and ours is not, or when
 * either is negative (a difference of two noisy medians, such as import time added, can be).
 */
export const ratio = (ours: number, theirs: number): number => {
  if (ours < 0 || theirs < 0) return Number.NaN
  if (theirs === 0) return ours === 0 ? 1 : Number.NaN
  return ours / theirs
}

/** A number with a sensible count of significant digits for a table. */
export const formatNumber = (value: number, unit = ''): string => {
  if (!Number.isFinite(value)) return 'n/a'
  const magnitude = Math.abs(value)
  const digits = magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : magnitude >= 1 ? 2 : 3
  const text = value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 })
  return unit === '' ? text : `${text} ${unit}`
}

/** A ratio as "0.42x". */
export const formatRatio = (value: number): string =>
  Number.isFinite(value) ? `${value.toFixed(2)}x` : 'n/a'

/** Fisher-Yates shuffle in place, for interleaving variants in random order each round. */
export const shuffle = <T>(items: T[]): T[] => {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1))
    ;[items[i], items[j]] = [items[j] as T, items[i] as T]
  }
  return items
}
