import diagnosticsChannel from 'node:diagnostics_channel'
import { EventEmitter } from 'node:events'
import { inspect } from 'node:util'
import { Deadline } from '../deadline.js'
import { CloudSecretsError, isDeadlineError } from '../errors.js'
import { createStepContext, loadAllSecrets } from '../loader.js'
import type { LoadContext, Provider } from '../providers/types.js'
import { createSecretsObject } from '../secrets-object.js'
import type { SecretReference } from '../reference.js'
import { createLimiter, type RetryPolicy } from '../retry.js'
import type { Identity, Logger, ProviderName, SecretsRecord } from '../types.js'
import type { RefreshConfig } from './interval.js'
import type { CloudRefresh, RefreshEventName, RefreshEvents, RefreshResult, RefreshStatus } from './events.js'
import { RefreshSchedule, SYSTEM_CLOCK, type CycleVerdict, type RefreshClock } from './schedule.js'

export type { CloudRefresh, RefreshEventName, RefreshEvents, RefreshResult, RefreshStatus } from './events.js'

/** diagnostics_channel names: `fastify-cloud-secrets:rotated`, `…:error`, `…:stale`, `…:recovered` */
export const REFRESH_CHANNELS: Readonly<Record<RefreshEventName, diagnosticsChannel.Channel>> = Object.freeze({
  rotated: diagnosticsChannel.channel('fastify-cloud-secrets:rotated'),
  error: diagnosticsChannel.channel('fastify-cloud-secrets:error'),
  stale: diagnosticsChannel.channel('fastify-cloud-secrets:stale'),
  recovered: diagnosticsChannel.channel('fastify-cloud-secrets:recovered')
})

/** kinds that mean "the store is busy or unreachable": back off before the next cycle */
const BACKOFF_KINDS = new Set(['THROTTLED', 'UNAVAILABLE', 'TIMEOUT'])

export interface RefresherInit {
  config: RefreshConfig
  /** each cycle's own deadline */
  timeoutMs: number
  references: readonly SecretReference[]
  providers: ReadonlyMap<ProviderName, Provider>
  log: Logger
  retry: RetryPolicy
  concurrency: number
  clock?: RefreshClock
  random?: () => number
}

/** A reference the background refresh re-reads: not `?refresh=off`, not pinned with `version=`. */
export function isPolled (ref: SecretReference): boolean {
  if (ref.refresh === 'off') return false
  return ref.version === undefined || ref.version === 'latest'
}

/** aliases that read the same stored secret (e.g. several `#json.key`s) swap together */
function secretKey (ref: SecretReference): string {
  return `${ref.provider}\u0000${ref.id}\u0000${ref.version ?? ''}\u0000${ref.stage ?? ''}`
}

interface Cycle { covers?: ReadonlySet<string>, done: Promise<RefreshResult & CycleVerdict> }

/**
 * The background refresh: owns the current snapshot, runs cycles (one at a time, each with its own
 * deadline), swaps a complete snapshot in, and reports rotations, failures, staleness and recovery
 * as events, logs and diagnostics_channel messages. Never throws into the app.
 */
export class SecretsRefresher {
  readonly api: CloudRefresh
  private readonly emitter = new EventEmitter()
  private readonly clock: RefreshClock
  private readonly schedule: RefreshSchedule
  private readonly polled: SecretReference[]
  private values = new Map<string, string | undefined>()
  private readonly versions = new Map<string, string | undefined>()
  private readonly previousValues = new Map<string, string | undefined>()
  private readonly lastOkAt = new Map<string, number>()
  private readonly failing = new Map<string, CloudSecretsError>()
  /** the state last logged at warn per alias (its error code), so a failure is logged once per change */
  private readonly logged = new Map<string, string>()
  private readonly stale = new Set<string>()
  private current: SecretsRecord = createSecretsObject(new Map())
  private generation = 1
  private lastAttemptAt?: number
  private lastSuccessAt?: number
  private inflight?: Cycle
  private deadline?: Deadline
  private closed = false
  private identities: Partial<Record<ProviderName, Identity>> = {}

  constructor (private readonly init: RefresherInit) {
    this.clock = init.clock ?? SYSTEM_CLOCK
    this.polled = init.references.filter(isPolled)
    this.schedule = new RefreshSchedule({
      intervalMs: init.config.intervalMs,
      jitter: init.config.jitter,
      clock: this.clock,
      random: init.random ?? Math.random,
      run: async () => await this.cycle()
    })
    this.emitter.setMaxListeners(0)
    this.api = this.createApi()
  }

  /** the snapshot app.secrets returns */
  get snapshot (): SecretsRecord {
    return this.current
  }

  get polledReferences (): readonly SecretReference[] {
    return this.polled
  }

  /** the startup snapshot, with the version of each secret as the store reported it */
  seed (values: ReadonlyMap<string, string | undefined>, versions: ReadonlyMap<string, string | undefined>, identities: Partial<Record<ProviderName, Identity>>): void {
    this.values = new Map(values)
    for (const [alias, version] of versions) this.versions.set(alias, version)
    this.identities = identities
    this.current = createSecretsObject(this.values)
    const now = this.clock.now()
    for (const ref of this.polled) this.lastOkAt.set(ref.alias, now)
    this.lastSuccessAt = now
  }

  /** on ready: the first cycle at a random point in (0, interval] */
  start (): void {
    if (this.closed || this.polled.length === 0) return
    this.schedule.start()
  }

  /** on close: no further cycle; the one in flight is aborted (its requests end with its deadline) */
  async close (graceMs: number): Promise<void> {
    this.closed = true
    this.schedule.stop()
    this.deadline?.cancel(new CloudSecretsError('TIMEOUT', 'the refresh cycle was aborted because the app is closing'))
    const inflight = this.inflight?.done
    if (inflight === undefined) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([inflight.catch(() => {}), new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs); timer.unref() })])
    clearTimeout(timer)
  }

  /** runs a cycle, or joins the one in flight when it covers `aliases` */
  async cycle (aliases?: readonly string[]): Promise<RefreshResult & CycleVerdict> {
    const wanted = aliases === undefined ? undefined : new Set(aliases)
    while (this.inflight !== undefined) {
      const running = this.inflight
      const covered = running.covers === undefined || (wanted !== undefined && [...wanted].every((a) => running.covers?.has(a) === true))
      if (covered) return await running.done
      await running.done.catch(() => {})
    }
    if (this.closed) return { rotated: [], failed: [], backoff: false }
    const done = this.runCycle(wanted).finally(() => { if (this.inflight?.done === done) this.inflight = undefined })
    this.inflight = { covers: wanted, done }
    return await done
  }

  private async runCycle (wanted: ReadonlySet<string> | undefined): Promise<RefreshResult & CycleVerdict> {
    const refs = wanted === undefined ? this.polled : this.polled.filter((r) => wanted.has(r.alias))
    if (refs.length === 0) return { rotated: [], failed: [], backoff: false }
    const { init } = this
    this.lastAttemptAt = this.clock.now()
    const deadline = new Deadline(init.timeoutMs, Date.now, { unref: true, what: 'a cloud secrets refresh cycle' })
    this.deadline = deadline
    const read = new Map<string, { value: string | undefined, version?: string }>()
    const unchanged = new Set<string>()
    const failures = new Map<string, CloudSecretsError>()
    try {
      const byProvider = new Map<ProviderName, SecretReference[]>()
      for (const ref of refs) byProvider.set(ref.provider, [...(byProvider.get(ref.provider) ?? []), ref])
      await Promise.all([...byProvider].map(async ([name, list]) => {
        const provider = init.providers.get(name) as Provider
        const log = init.log.child({ provider: name })
        let toRead = list
        if (provider.changedSecrets !== undefined) {
          const ctx: LoadContext = { ...createStepContext(deadline, log, init.retry), identity: this.identities[name] as Identity, limit: createLimiter(init.concurrency) }
          try {
            const changes = await deadline.run(`changes from ${name}`, async () => await provider.changedSecrets?.(list, ctx))
            if (changes !== undefined) {
              const changed = new Set(changes.changed.map((r) => r.alias))
              for (const [alias, err] of changes.failed) failures.set(alias, err.forAlias(alias))
              toRead = list.filter((r) => changed.has(r.alias))
              for (const r of list) if (!changed.has(r.alias) && !changes.failed.has(r.alias)) unchanged.add(r.alias)
            }
          } catch (err) {
            if (isDeadlineError(err)) throw err
            // the cheap check broke in a way the provider did not classify: read them all instead
          }
        }
        if (toRead.length === 0) return
        const versions = new Map<string, string | undefined>()
        const loaded = await loadAllSecrets(toRead, init.providers, this.identities, deadline, init.log, {
          concurrency: init.concurrency,
          retry: init.retry,
          onSecret: (report) => { if (report.status !== 'failed') versions.set(report.alias, report.version) },
          // an optional secret that stays absent is said once (at startup, or when it goes), not every cycle
          wasAbsent: (alias) => this.values.has(alias) && this.values.get(alias) === undefined
        })
        for (const [alias, value] of loaded.values) read.set(alias, { value, version: versions.get(alias) })
        for (const f of loaded.failures) if (f.alias !== undefined) failures.set(f.alias, f)
      }))
    } catch (err) {
      // the cycle's deadline (or close): every alias still without an answer keeps its value
      const error = err instanceof CloudSecretsError ? err : new CloudSecretsError('UNAVAILABLE', `the refresh cycle failed: ${(err as Error)?.message ?? String(err)}`, { cause: err })
      for (const r of refs) if (!read.has(r.alias) && !unchanged.has(r.alias) && !failures.has(r.alias)) failures.set(r.alias, error.forAlias(r.alias, r.id))
    } finally {
      deadline.dispose()
      if (this.deadline === deadline) this.deadline = undefined
    }
    if (this.closed) return { rotated: [], failed: [], backoff: false }
    return this.apply(refs, read, unchanged, failures)
  }

  private apply (refs: readonly SecretReference[], read: Map<string, { value: string | undefined, version?: string }>, unchanged: ReadonlySet<string>, failures: Map<string, CloudSecretsError>): RefreshResult & CycleVerdict {
    const now = this.clock.now()
    // one failed alias holds back every alias of the same secret: they never mix versions
    const groups = new Map<string, SecretReference[]>()
    for (const ref of refs) groups.set(secretKey(ref), [...(groups.get(secretKey(ref)) ?? []), ref])
    for (const group of groups.values()) {
      const failed = group.find((r) => failures.has(r.alias))
      if (failed === undefined) continue
      const error = failures.get(failed.alias) as CloudSecretsError
      for (const r of group) {
        if (failures.has(r.alias)) continue
        read.delete(r.alias)
        failures.set(r.alias, error.forAlias(r.alias, r.id))
      }
    }

    const rotated: string[] = []
    const versions: Record<string, { from?: string, to?: string }> = {}
    const next = new Map(this.values)
    for (const ref of refs) {
      const got = read.get(ref.alias)
      if (got === undefined) continue
      const before = this.values.get(ref.alias)
      // values are compared only to decide whether to emit; they never leave this function
      if (got.value !== before) {
        rotated.push(ref.alias)
        versions[ref.alias] = { from: this.versions.get(ref.alias), to: got.version }
        this.previousValues.set(ref.alias, before)
        next.set(ref.alias, got.value)
      }
      this.versions.set(ref.alias, got.version)
    }
    if (rotated.length > 0) {
      this.values = next
      this.current = createSecretsObject(next)
      this.generation++
      this.init.log.info({ generation: this.generation, aliases: rotated, versions }, 'secrets rotated: %s', rotated.join(', '))
      this.emit('rotated', { generation: this.generation, aliases: rotated, versions })
    }

    const recovered: string[] = []
    for (const ref of refs) {
      if (failures.has(ref.alias) || (!read.has(ref.alias) && !unchanged.has(ref.alias))) continue
      this.lastOkAt.set(ref.alias, now)
      if (this.failing.has(ref.alias) || this.stale.has(ref.alias)) recovered.push(ref.alias)
      this.failing.delete(ref.alias)
      this.stale.delete(ref.alias)
      this.logged.delete(ref.alias)
    }

    if (failures.size > 0) {
      const changedState: string[] = []
      for (const [alias, error] of failures) {
        this.failing.set(alias, error)
        if (this.logged.get(alias) !== error.code) {
          this.logged.set(alias, error.code)
          changedState.push(alias)
        }
      }
      if (changedState.length > 0) {
        this.init.log.warn({
          generation: this.generation,
          aliases: changedState,
          errors: Object.fromEntries(changedState.map((a) => [a, { code: failures.get(a)?.code, message: failures.get(a)?.summary }]))
        }, 'refresh failed for %s; the last good values stay in use (logged again only when this changes)', changedState.join(', '))
      }
      this.emit('error', { generation: this.generation, aliases: [...failures.keys()], errors: Object.fromEntries(failures) })
    } else {
      this.lastSuccessAt = now
    }

    const newlyStale: string[] = []
    for (const ref of this.polled) {
      const last = this.lastOkAt.get(ref.alias) ?? now
      if (now - last >= this.init.config.staleAfterMs && !this.stale.has(ref.alias)) {
        this.stale.add(ref.alias)
        newlyStale.push(ref.alias)
      }
    }
    if (newlyStale.length > 0) {
      this.init.log.warn({ generation: this.generation, aliases: newlyStale, staleAfterMs: this.init.config.staleAfterMs }, '%s not refreshed for %d ms (stale); the last good values stay in use', newlyStale.join(', '), this.init.config.staleAfterMs)
      this.emit('stale', { generation: this.generation, aliases: newlyStale })
    }
    if (recovered.length > 0) {
      this.init.log.info({ generation: this.generation, aliases: recovered }, 'refresh works again for %s', recovered.join(', '))
      this.emit('recovered', { generation: this.generation, aliases: recovered })
    }

    let backoff = false
    let retryAfterMs: number | undefined
    for (const error of failures.values()) {
      if (BACKOFF_KINDS.has(error.kind)) backoff = true
      if (error.retryAfterMs !== undefined) retryAfterMs = Math.max(retryAfterMs ?? 0, error.retryAfterMs)
    }
    return { rotated, failed: [...failures.keys()], backoff, retryAfterMs }
  }

  /** to listeners and diagnostics_channel; a listener that throws is logged, never rethrown */
  private emit<E extends RefreshEventName>(event: E, payload: RefreshEvents[E]): void {
    const frozen = Object.freeze(payload)
    const channel = REFRESH_CHANNELS[event]
    try {
      if (channel.hasSubscribers) channel.publish(frozen)
    } catch (err) {
      this.init.log.warn({ event, error: (err as Error)?.name }, 'a diagnostics_channel subscriber threw')
    }
    // EventEmitter throws an 'error' nobody listens to: an unobserved failure is logged instead
    if (this.emitter.listenerCount(event) === 0) return
    try {
      this.emitter.emit(event, frozen)
    } catch (err) {
      this.init.log.warn({ event, error: (err as Error)?.name }, 'an app.cloud.refresh "%s" listener threw', event)
    }
  }

  status (): RefreshStatus {
    return {
      generation: this.generation,
      lastAttemptAt: this.lastAttemptAt,
      lastSuccessAt: this.lastSuccessAt,
      nextAt: this.schedule.nextAt,
      stale: this.polled.map((r) => r.alias).filter((a) => this.stale.has(a)),
      failing: Object.fromEntries([...this.failing].map(([alias, e]) => [alias, e.code]))
    }
  }

  /** the public face: methods only; values live in this closure, never on the object */
  private createApi (): CloudRefresh {
    const emitter = this.emitter
    const api: CloudRefresh = {
      on: (event, listener) => { emitter.on(event, listener as (p: unknown) => void); return api },
      once: (event, listener) => { emitter.once(event, listener as (p: unknown) => void); return api },
      off: (event, listener) => { emitter.off(event, listener as (p: unknown) => void); return api },
      addListener: (event, listener) => { emitter.on(event, listener as (p: unknown) => void); return api },
      removeListener: (event, listener) => { emitter.off(event, listener as (p: unknown) => void); return api },
      now: async (aliases) => {
        if (aliases !== undefined && (!Array.isArray(aliases) || aliases.some((a) => typeof a !== 'string'))) throw new TypeError('app.cloud.refresh.now(aliases): aliases must be an array of strings')
        const { rotated, failed } = await this.cycle(aliases)
        return { rotated, failed }
      },
      status: () => this.status(),
      previous: (alias) => this.previousValues.get(alias)
    }
    Object.defineProperty(api, 'toJSON', { value: () => this.status(), enumerable: false })
    Object.defineProperty(api, inspect.custom, { value: (_depth: number, opts: object) => `CloudRefresh ${inspect(this.status(), opts)}`, enumerable: false })
    return Object.freeze(api)
  }
}
