import { randomBytes } from 'node:crypto'
import { inspect } from 'node:util'
import type { Test } from 'tap'

/** A pino destination that keeps every line, for leak scans and log assertions. */
export function captureLogs (level = 'trace'): { logger: { level: string, stream: { write: (line: string) => void } }, lines: string[], records: () => Array<Record<string, unknown>>, text: () => string } {
  const lines: string[] = []
  return {
    logger: { level, stream: { write: (line: string) => { lines.push(line) } } },
    lines,
    records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    text: () => lines.join('')
  }
}

/** A random value per run, so a leak scan cannot pass by luck. */
export function randomSecret (label = 'sv'): string {
  return `${label}-${randomBytes(18).toString('base64url')}`
}

/** Everything an error exposes: message, stack, inspect (with causes), JSON. */
export function errorText (err: unknown): string {
  let json = ''
  try { json = JSON.stringify(err) } catch { json = '' }
  return [String((err as Error)?.message), String((err as Error)?.stack), inspect(err, { depth: 8 }), json].join('\n')
}

/** Asserts that none of `needles` appears in `haystack` (and that the scan saw something). */
export function assertNoLeak (t: Test, haystack: string, needles: readonly string[], what = 'captured output'): void {
  t.ok(haystack.length > 0, `${what} is not empty (the scan looked at something)`)
  const leaked = needles.filter((n) => n.length > 0 && haystack.includes(n))
  t.same(leaked, [], `no secret value or token appears in ${what}`)
}
