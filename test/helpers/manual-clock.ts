import type { RefreshClock } from '../../src/refresh/schedule.js'

/** A clock the test moves by hand: timers fire only when `fire()` is called. No global fake timers. */
export class ManualClock implements RefreshClock {
  time = 1_700_000_000_000
  private seq = 0
  readonly timers = new Map<number, { fn: () => void, at: number, delay: number }>()
  /** every delay armed, in order */
  readonly delays: number[] = []

  now = (): number => this.time

  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = ++this.seq
    this.timers.set(id, { fn, at: this.time + ms, delay: ms })
    this.delays.push(ms)
    return id
  }

  clearTimeout = (handle: unknown): void => { this.timers.delete(handle as number) }

  get pending (): number {
    return this.timers.size
  }

  /** moves time to the next timer and runs it; returns its delay */
  fire (): number {
    const next = [...this.timers].sort((a, b) => a[1].at - b[1].at)[0]
    if (next === undefined) throw new Error('no timer armed')
    this.timers.delete(next[0])
    this.time = next[1].at
    next[1].fn()
    return next[1].delay
  }

  /** waits until a timer is armed again (the cycle settled) */
  async armed (): Promise<void> {
    // a cycle reads files or sockets (thread pool, network): poll with real 1 ms sleeps, up to 10 s on a busy machine
    for (let i = 0; i < 10_000 && this.timers.size === 0; i++) await new Promise((resolve) => i < 100 ? setImmediate(resolve) : setTimeout(resolve, 1))
    if (this.timers.size === 0) throw new Error('no timer was armed again')
  }
}
