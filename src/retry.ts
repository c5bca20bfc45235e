import { CloudSecretsError, isDeadlineError } from './errors.js'
import type { Deadline } from './deadline.js'

export interface RetryPolicy {
  /** attempts in all, the first included */
  maxAttempts: number
  baseDelayMs: number
  maxDelayMs: number
  /** random in [0, 1); injectable so tests can pin the jitter */
  random: () => number
}

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({ maxAttempts: 6, baseDelayMs: 100, maxDelayMs: 2000, random: Math.random })

/** Full-jitter exponential backoff; a server's Retry-After wins over the computed delay. */
export function backoffDelay (attempt: number, policy: RetryPolicy, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined && retryAfterMs >= 0) return retryAfterMs + Math.floor(policy.random() * policy.baseDelayMs)
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt)
  return Math.floor(policy.random() * cap)
}

/**
 * Runs `attempt` until it succeeds, fails for good, or the next wait would not fit inside the
 * deadline. Only errors the provider classified as retryable (throttling, 5xx, network) are
 * retried; the last classified error is what the caller sees, never a bare timeout, when the
 * deadline leaves no room for another try.
 */
export async function withRetry<T> (
  deadline: Deadline,
  label: string,
  attempt: (signal: AbortSignal, n: number) => Promise<T>,
  classify: (err: unknown) => CloudSecretsError,
  policy: RetryPolicy = DEFAULT_RETRY,
  onRetry?: (err: CloudSecretsError, delayMs: number, n: number) => void
): Promise<T> {
  let lastAttemptMs = 0
  for (let n = 0; ; n++) {
    let error: CloudSecretsError
    const started = Date.now()
    try {
      return await deadline.run(label, (signal) => attempt(signal, n))
    } catch (err) {
      if (isDeadlineError(err)) throw err
      if (deadline.isExpired) throw deadline.error
      error = err instanceof CloudSecretsError ? err : classify(err)
    }
    lastAttemptMs = Date.now() - started
    if (!error.retryable || n + 1 >= policy.maxAttempts) throw error
    const delay = backoffDelay(n, policy, error.retryAfterMs)
    // give up with the store's own answer when the wait plus another attempt (with room for it
    // to be twice as slow as the last one) would not fit: better THROTTLED/UNAVAILABLE now than a bare TIMEOUT later
    if (delay + 2 * lastAttemptMs + 50 >= deadline.remaining()) {
      const waitNote = error.retryAfterMs !== undefined
        ? `the store asked to retry after ${Math.ceil(error.retryAfterMs / 1000)} s, beyond the remaining startup deadline`
        : 'no time was left in the startup deadline for another attempt'
      throw new CloudSecretsError(error.kind, `${error.summary} (gave up after ${n + 1} attempt${n === 0 ? '' : 's'}: ${waitNote})`, { ...error.details(), retryable: false })
    }
    onRetry?.(error, delay, n + 1)
    await deadline.sleep(delay)
  }
}

/** Runs at most `limit` tasks at a time. */
export function createLimiter (limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0
  const queue: Array<() => void> = []
  const next = (): void => {
    active--
    queue.shift()?.()
  }
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= limit) await new Promise<void>((resolve) => queue.push(resolve))
    active++
    try {
      return await task()
    } finally {
      next()
    }
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'ECONNABORTED'])

/** Network-level failure code (ECONNRESET …) of an error or its causes, if any. */
export function networkErrorCode (err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code
  }
  return undefined
}

/** Parses an HTTP Retry-After header (seconds or HTTP date) into ms. */
export function parseRetryAfter (value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value === null || value === '') return undefined
  if (/^\d+(?:\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000)
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}
