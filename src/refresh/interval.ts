import type { ConfigProblem } from '../errors.js'
import { isRecord } from '../shared/input.js'

/** The refresh settings after validation (`refresh` option or CLOUD_SECRETS_REFRESH_MS). */
export interface RefreshConfig {
  readonly intervalMs: number
  /** each interval is intervalMs × (1 ± jitter) */
  readonly jitter: number
  /** a secret not refreshed for this long is stale */
  readonly staleAfterMs: number
  /** where it was set: options.refresh or CLOUD_SECRETS_REFRESH_MS */
  readonly source: string
}

export const MIN_REFRESH_MS = 1000
export const MAX_REFRESH_MS = 7 * 24 * 3600 * 1000
/** intervals below this are allowed (tests, demos) and warned about with their fleet cost */
export const WARN_BELOW_MS = 60_000
export const DEFAULT_JITTER = 0.1
export const MAX_JITTER = 0.5

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/**
 * `900000`, `900000ms`, `30s`, `15m`, `1h` → milliseconds. A bare number is always milliseconds:
 * several caching clients read such numbers as seconds; here a too-small one is refused with the
 * unit spelled out instead of silently polling every 900 ms.
 */
export function parseDuration (text: string): { ms: number } | { problem: string } {
  const m = /^(\d{1,16})(ms|s|m|h)?$/.exec(text.trim())
  if (m === null) return { problem: `"${text.slice(0, 40)}" is not a duration: write milliseconds (900000) or a number with s, m or h (30s, 15m, 1h)` }
  return { ms: Number(m[1]) * UNITS[m[2] ?? 'ms'] }
}

function rangeProblem (ms: number, written: string): string | undefined {
  if (!Number.isSafeInteger(ms) || ms < MIN_REFRESH_MS || ms > MAX_REFRESH_MS) {
    const hint = Number.isSafeInteger(ms) && ms > 0 && ms < MIN_REFRESH_MS ? ` (${written} is read as ${ms} milliseconds; for seconds write ${ms}s)` : ''
    return `the refresh interval must be from ${MIN_REFRESH_MS} ms (1s) to ${MAX_REFRESH_MS} ms (168h)${hint}`
  }
  return undefined
}

/**
 * Reads `refresh` (number of ms, duration string, `false`, or `{ intervalMs, jitter, staleAfterMs }`),
 * else CLOUD_SECRETS_REFRESH_MS. Every problem goes to `add`; undefined means refresh is off.
 */
export function readRefresh (option: unknown, envValue: string | undefined, add: (problem: ConfigProblem) => void): RefreshConfig | undefined {
  const problem = (source: string, message: string): undefined => { add({ source, message }); return undefined }
  if (option === undefined || option === false) {
    if (envValue === undefined || envValue.trim().length === 0) return undefined
    const parsed = parseDuration(envValue)
    if ('problem' in parsed) return problem('CLOUD_SECRETS_REFRESH_MS', parsed.problem)
    const bad = rangeProblem(parsed.ms, envValue.trim())
    if (bad !== undefined) return problem('CLOUD_SECRETS_REFRESH_MS', bad)
    return freeze(parsed.ms, DEFAULT_JITTER, 3 * parsed.ms, 'CLOUD_SECRETS_REFRESH_MS')
  }
  const source = 'options.refresh'
  const interval = (value: unknown, where: string): number | undefined => {
    if (typeof value === 'number') {
      const bad = rangeProblem(value, String(value))
      return bad === undefined ? value : problem(where, bad)
    }
    if (typeof value === 'string') {
      const parsed = parseDuration(value)
      if ('problem' in parsed) return problem(where, parsed.problem)
      const bad = rangeProblem(parsed.ms, value.trim())
      return bad === undefined ? parsed.ms : problem(where, bad)
    }
    return problem(where, 'must be a number of milliseconds or a duration such as "15m"')
  }
  if (!isRecord(option)) {
    const ms = interval(option, source)
    return ms === undefined ? undefined : freeze(ms, DEFAULT_JITTER, 3 * ms, source)
  }
  let ok = true
  for (const key of Object.keys(option)) {
    if (!['intervalMs', 'jitter', 'staleAfterMs'].includes(key)) { ok = false; problem(`${source}.${key.slice(0, 64)}`, 'unknown refresh setting; known: intervalMs, jitter, staleAfterMs') }
  }
  const ms = option.intervalMs === undefined ? problem(`${source}.intervalMs`, 'is required (e.g. 900000 or "15m")') : interval(option.intervalMs, `${source}.intervalMs`)
  let jitter = DEFAULT_JITTER
  if (option.jitter !== undefined) {
    if (typeof option.jitter !== 'number' || !(option.jitter >= 0 && option.jitter <= MAX_JITTER)) { ok = false; problem(`${source}.jitter`, `must be a number from 0 to ${MAX_JITTER} (a fraction of the interval)`) } else jitter = option.jitter
  }
  let staleAfterMs: number | undefined
  if (option.staleAfterMs !== undefined) {
    const stale = interval(option.staleAfterMs, `${source}.staleAfterMs`)
    if (stale === undefined) ok = false
    else if (ms !== undefined && stale < ms) { ok = false; problem(`${source}.staleAfterMs`, `must be at least the interval (${ms} ms)`) } else staleAfterMs = stale
  }
  if (!ok || ms === undefined) return undefined
  return freeze(ms, jitter, staleAfterMs ?? 3 * ms, source)
}

function freeze (intervalMs: number, jitter: number, staleAfterMs: number, source: string): RefreshConfig {
  return Object.freeze({ intervalMs, jitter, staleAfterMs, source })
}

/** A duration for people: 900000 → "15m", 30000 → "30s", 1500 → "1.5s". */
export function formatDuration (ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  if (ms >= 1000) return `${Math.round(ms / 100) / 10}s`
  return `${ms}ms`
}
