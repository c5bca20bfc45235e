import type { CloudSecretsError } from '../errors.js'

// What app.cloud.refresh emits and answers: public types, implemented by refresher.ts.

/** Payloads of `app.cloud.refresh` events: aliases, generation and version ids, never values. */
export interface RefreshEvents {
  rotated: { generation: number, aliases: string[], versions: Record<string, { from?: string, to?: string }> }
  error: { generation: number, aliases: string[], errors: Record<string, CloudSecretsError> }
  stale: { generation: number, aliases: string[] }
  recovered: { generation: number, aliases: string[] }
}
export type RefreshEventName = keyof RefreshEvents

export interface RefreshStatus {
  /** increments with every new snapshot; 1 is the one loaded at startup */
  generation: number
  /** epoch ms of the last cycle's start, of the last cycle with no failure, of the next scheduled cycle */
  lastAttemptAt?: number
  lastSuccessAt?: number
  nextAt?: number
  /** aliases not refreshed for staleAfterMs */
  stale: string[]
  /** alias → error code of its last failed refresh */
  failing: Record<string, string>
}

export interface RefreshResult { rotated: string[], failed: string[] }

/** `app.cloud.refresh`: present only when refresh is on. */
export interface CloudRefresh {
  on: <E extends RefreshEventName>(event: E, listener: (payload: RefreshEvents[E]) => void) => CloudRefresh
  once: <E extends RefreshEventName>(event: E, listener: (payload: RefreshEvents[E]) => void) => CloudRefresh
  off: <E extends RefreshEventName>(event: E, listener: (payload: RefreshEvents[E]) => void) => CloudRefresh
  /** aliases of on/off, so `events.once(app.cloud.refresh, 'rotated')` works */
  addListener: <E extends RefreshEventName>(event: E, listener: (payload: RefreshEvents[E]) => void) => CloudRefresh
  removeListener: <E extends RefreshEventName>(event: E, listener: (payload: RefreshEvents[E]) => void) => CloudRefresh
  /** refresh at once (coalesced with a cycle in flight), e.g. after a downstream 401 */
  now: (aliases?: readonly string[]) => Promise<RefreshResult>
  status: () => RefreshStatus
  /** the value before the last rotation of `alias` (undefined if it never rotated) */
  previous: (alias: string) => string | undefined
}
