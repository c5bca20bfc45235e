/**
 * When refresh cycles run. Time and randomness are injected (tests drive a manual clock and a
 * seeded random; global fake timers would freeze the SDKs' own timers).
 */
export interface RefreshClock {
  now: () => number
  /** arms a one-shot timer that must not keep the process alive */
  setTimeout: (fn: () => void, ms: number) => unknown
  clearTimeout: (handle: unknown) => void
}

export const SYSTEM_CLOCK: RefreshClock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle: unknown) => { clearTimeout(handle as NodeJS.Timeout) }
})

/** What the schedule needs to know about a finished cycle. */
export interface CycleVerdict {
  /** throttling, 5xx, network or deadline: back off before the next cycle */
  backoff: boolean
  /** the longest Retry-After a store asked for, ms */
  retryAfterMs?: number
}

export interface ScheduleOptions {
  intervalMs: number
  jitter: number
  clock: RefreshClock
  /** uniform in [0, 1) */
  random: () => number
  /** runs one cycle; the schedule never starts another before it settles */
  run: () => Promise<CycleVerdict>
}

/** consecutive backoffs grow the window up to this many intervals */
export const MAX_BACKOFF_INTERVALS = 4

/**
 * First cycle at a random point in (0, interval] (a fleet started together does not poll in
 * lockstep), then every interval × (1 ± jitter); after a throttled or failed cycle, full-jitter
 * backoff: uniform in [0, min(4, 2^n) × interval), never sooner than a Retry-After the store gave.
 * One timer at a time, re-armed only after the cycle settles, so at most one cycle is in flight.
 */
export class RefreshSchedule {
  private timer: unknown
  private stopped = false
  private started = false
  private failures = 0
  nextAt: number | undefined

  constructor (private readonly options: ScheduleOptions) {}

  start (): void {
    if (this.started || this.stopped) return
    this.started = true
    const { intervalMs, random } = this.options
    // (0, interval]: 1 - random() is in (0, 1]
    this.arm(Math.max(1, Math.ceil((1 - random()) * intervalMs)))
  }

  /** the delay after a cycle with `verdict` (exposed for tests of the arithmetic) */
  delayAfter (verdict: CycleVerdict): number {
    const { intervalMs, jitter, random } = this.options
    if (!verdict.backoff) {
      this.failures = 0
      return Math.max(1, Math.round(intervalMs * (1 + jitter * (2 * random() - 1))))
    }
    this.failures++
    const window = intervalMs * Math.min(MAX_BACKOFF_INTERVALS, 2 ** this.failures)
    const floor = Math.min(1000, intervalMs)
    return Math.max(floor, Math.floor(random() * window), verdict.retryAfterMs ?? 0)
  }

  stop (): void {
    this.stopped = true
    this.nextAt = undefined
    if (this.timer !== undefined) this.options.clock.clearTimeout(this.timer)
    this.timer = undefined
  }

  get isStopped (): boolean {
    return this.stopped
  }

  private arm (delay: number): void {
    if (this.stopped) return
    const { clock } = this.options
    this.nextAt = clock.now() + delay
    this.timer = clock.setTimeout(() => { this.fire().catch(() => {}) }, delay)
  }

  private async fire (): Promise<void> {
    this.timer = undefined
    this.nextAt = undefined
    if (this.stopped) return
    let verdict: CycleVerdict
    try {
      verdict = await this.options.run()
    } catch {
      // run() reports its own failures; a throw here must still not stop the schedule
      verdict = { backoff: true }
    }
    this.arm(this.delayAfter(verdict))
  }
}

/** A small seeded generator (mulberry32) for tests and reproducible schedules. */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
