import { format } from 'node:util'
import type { Logger } from '../types.js'

/**
 * The CLI's logger: pino-shaped, prints nothing. Warnings (e.g. an unsupported option) are kept as
 * their message text only, so the report can show them; the objects logged with them are dropped.
 */
export function createQuietLogger (): { log: Logger, warnings: () => string[] } {
  const warnings: string[] = []
  const ignore = (): void => {}
  const keep = (first: unknown, ...rest: unknown[]): void => {
    // a line about one secret (it names its alias) is already that secret's line in the report
    if (typeof first === 'object' && first !== null && 'alias' in first) return
    const [msg, ...args] = typeof first === 'string' ? [first, ...rest] : rest
    if (typeof msg === 'string') warnings.push(format(msg, ...args))
  }
  const log = {
    level: 'warn',
    fatal: keep,
    error: keep,
    warn: keep,
    info: ignore,
    debug: ignore,
    trace: ignore,
    silent: ignore,
    child: () => log
  } as unknown as Logger
  return { log, warnings: () => [...new Set(warnings)] }
}
