import { setMaxListeners } from 'node:events'
import { abortedError, CloudSecretsError, timeoutError } from './errors.js'

/**
 * One deadline for the whole startup. Every step runs through `run`, which records what is
 * pending, so a timeout names exactly what never answered. SDK calls get `signal`; calls that
 * ignore it are still bounded because `run` races them against the deadline.
 */
export class Deadline {
  readonly signal: AbortSignal
  readonly at: number
  readonly timeoutMs: number
  private readonly controller = new AbortController()
  private readonly timer: NodeJS.Timeout
  private readonly pending = new Map<string, number>()
  private readonly failures: CloudSecretsError[] = []
  private expired = false
  private readonly expiry: Promise<never>
  private readonly fire: (err: CloudSecretsError) => void

  constructor (timeoutMs: number, private readonly now: () => number = Date.now) {
    this.timeoutMs = timeoutMs
    this.at = now() + timeoutMs
    this.signal = this.controller.signal
    // every concurrent SDK call of the startup listens to this one signal: not a leak
    setMaxListeners(0, this.signal)
    let fire: (err: CloudSecretsError) => void = () => {}
    this.expiry = new Promise<never>((_resolve, reject) => { fire = reject })
    this.expiry.catch(() => {})
    this.fire = fire
    this.timer = setTimeout(() => { this.end(timeoutError(this.timeoutMs, [...this.pending.keys()], this.failures)) }, timeoutMs)
  }

  /** Ends the startup now with ABORTED (the app's `signal`): every pending step rejects, every SDK call is aborted. */
  abort (reason: unknown): void {
    this.end(abortedError([...this.pending.keys()], reason))
  }

  private end (err: CloudSecretsError): void {
    if (this.expired) return
    this.expired = true
    clearTimeout(this.timer)
    this.controller.abort(err)
    this.fire(err)
  }

  remaining (): number {
    return Math.max(0, this.at - this.now())
  }

  /** the TIMEOUT (or ABORTED) error, once the deadline has fired */
  get error (): CloudSecretsError {
    return this.signal.reason as CloudSecretsError
  }

  get isExpired (): boolean {
    return this.expired
  }

  /** Remember a failure so a later timeout reports it too. */
  recordFailure (err: CloudSecretsError): void {
    this.failures.push(err)
  }

  /** Runs `task` as the pending step `label`; rejects with TIMEOUT when the deadline fires first. */
  async run<T>(label: string, task: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.expired) throw this.error
    this.pending.set(label, (this.pending.get(label) ?? 0) + 1)
    try {
      return await Promise.race([task(this.signal), this.expiry])
    } finally {
      const n = (this.pending.get(label) ?? 1) - 1
      if (n <= 0) this.pending.delete(label)
      else this.pending.set(label, n)
    }
  }

  /** Sleeps `ms`, or rejects with TIMEOUT if the deadline comes first. */
  async sleep (ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([new Promise<void>((resolve) => { timer = setTimeout(resolve, ms) }), this.expiry])
    } finally {
      clearTimeout(timer)
    }
  }

  dispose (): void {
    clearTimeout(this.timer)
  }
}
