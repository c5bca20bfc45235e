import type { Deadline } from './deadline.js'
import { CloudSecretsError, isDeadlineError, loadFailedError } from './errors.js'
import { createStepContext, loadAllSecrets, DEFAULT_CONCURRENCY, type LoadedSecrets, type SecretReport } from './loader.js'
import { normalizeOptions, type NormalizedConfig } from './options.js'
import { loadProvider } from './providers/registry.js'
import type { CreateProvider, Provider, StoreCost } from './providers/types.js'
import type { SecretReference } from './reference.js'
import { describeFleetCost, fleetCosts } from './refresh/cost.js'
import { formatDuration, WARN_BELOW_MS } from './refresh/interval.js'
import { isPolled } from './refresh/refresher.js'
import type { RefreshClock } from './refresh/schedule.js'
import { DEFAULT_RETRY, type RetryPolicy } from './retry.js'
import type { CloudContext, CloudSecretsOptions, Identity, Logger, ProviderName } from './types.js'

/**
 * The startup steps, in the order they run: normalize options → select providers → resolve
 * identity → run checks → load secrets. The plugin (src/plugin.ts) runs them and throws the first
 * failure; `doctor` (src/cli/diagnose.ts) runs the very same functions and reports every outcome, so
 * both classify a failure the same way and print the same fix.
 */

/** Internal knobs for the testing export, benchmarks and tests. Not part of the public contract. */
export interface InternalOptions {
  identity?: Partial<Identity>
  retry?: Partial<RetryPolicy>
  concurrency?: number
  /** the refresh schedule's clock and randomness (tests drive them) */
  refresh?: { clock?: RefreshClock, random?: () => number }
}

/** A step that failed for one provider; the other providers' results still stand. */
export interface ProviderFailure {
  provider: ProviderName
  error: unknown
}

/** How long closing may take after a failed startup before we stop waiting for it. */
export const CLOSE_GRACE_MS = 1000

export function retryPolicy (internal: InternalOptions = {}): RetryPolicy {
  return { ...DEFAULT_RETRY, ...internal.retry }
}

/** Options and env vars → the frozen config; every problem in one CONFIG error, before any network call. */
export function normalizeConfig (options: CloudSecretsOptions, pluginTimeout: number, log: Logger): NormalizedConfig {
  return normalizeOptions(options, { pluginTimeout })
}

/** the fleet size the short-interval warning prices (the issue's own example: 1,000 pods) */
export const WARN_FLEET = 1000

/** What one refresh cycle of the polled references costs, per store. */
export function refreshCosts (config: NormalizedConfig, providers: ReadonlyMap<ProviderName, Provider>): StoreCost[] {
  const polled = config.references.filter(isPolled)
  return [...providers.values()].flatMap((p) => p.refreshCost?.(polled.filter((r) => r.provider === p.name)) ?? [])
}

/** Intervals under 60 s are allowed (tests, demos) and said at warn with what they cost a fleet. */
export function warnShortInterval (config: NormalizedConfig, providers: ReadonlyMap<ProviderName, Provider>, log: Logger): void {
  const refresh = config.refresh
  if (refresh === undefined || refresh.intervalMs >= WARN_BELOW_MS) return
  const costs = fleetCosts(refreshCosts(config, providers), refresh.intervalMs, WARN_FLEET)
  log.warn({ intervalMs: refresh.intervalMs, fleet: WARN_FLEET, costs: costs.map((c) => ({ store: c.store, perSecond: c.perSecond, quotaPercent: c.quotaPercent })) },
    'refresh every %s is under 60s; fine for tests and demos, costly for a fleet%s', formatDuration(refresh.intervalMs),
    costs.length > 0 ? `:\n  ${costs.map(describeFleetCost).join('\n  ')}` : '')
}

/** Imports each configured provider (and so its SDK) lazily into `providers`; every failure is returned. */
export async function selectProviders (config: NormalizedConfig, providers: Map<ProviderName, Provider>, deadline: Deadline, log: Logger, internal: InternalOptions = {}): Promise<ProviderFailure[]> {
  const results = await Promise.allSettled(config.providers.map(async (name) => {
    const provider = await deadline.run(`load provider ${name}`, async () => {
      // every store's index.ts exports a CreateProvider (the registry types it loosely: see ProviderModule)
      const createProvider = (await loadProvider(name)).createProvider as CreateProvider
      return await createProvider({ config, log: log.child({ provider: name }), identityOverride: internal.identity })
    })
    providers.set(name, provider)
  }))
  return failuresOf(config.providers, results)
}

/** Resolves every provider's identity at once; the ones that failed are returned with their error. */
export async function resolveIdentities (providers: ReadonlyMap<ProviderName, Provider>, deadline: Deadline, log: Logger, retry: RetryPolicy): Promise<{ identities: Partial<Record<ProviderName, Identity>>, failures: ProviderFailure[] }> {
  const identities: Partial<Record<ProviderName, Identity>> = {}
  const results = await Promise.allSettled([...providers].map(async ([name, provider]) => {
    identities[name] = Object.freeze(await deadline.run(`identity (${name})`, async () => await provider.resolveIdentity(createStepContext(deadline, log.child({ provider: name }), retry))))
  }))
  return { identities, failures: failuresOf([...providers.keys()], results) }
}

/** Token scopes and custom checks, all at once; a TIMEOUT rejects, every other failure is returned. */
export async function runChecks (config: NormalizedConfig, providers: ReadonlyMap<ProviderName, Provider>, cloud: CloudContext, deadline: Deadline, log: Logger, retry: RetryPolicy): Promise<CloudSecretsError[]> {
  const failures: CloudSecretsError[] = []
  const tasks: Array<Promise<void>> = []
  const primary = config.provider === undefined ? undefined : providers.get(config.provider)
  if (config.checks.scopes.length > 0 && primary?.checkScopes !== undefined) {
    const ctx = createStepContext(deadline, log.child({ provider: primary.name }), retry)
    tasks.push(deadline.run(`token scopes (${primary.name})`, async () => { await primary.checkScopes?.(config.checks.scopes, ctx) }).catch((err: unknown) => {
      if (isDeadlineError(err)) throw err
      failures.push(asCheckFailure('token scopes', err))
    }))
  }
  for (const { name, fn } of config.checks.custom) {
    tasks.push(deadline.run(`check "${name}"`, async () => { await fn(cloud) }).catch((err: unknown) => {
      if (isDeadlineError(err)) throw err
      failures.push(asCheckFailure(name, err))
    }))
  }
  await Promise.all(tasks)
  for (const f of failures) deadline.recordFailure(f)
  return failures
}

export function asCheckFailure (name: string, err: unknown): CloudSecretsError {
  if (err instanceof CloudSecretsError) return new CloudSecretsError(err.kind, `check "${name}": ${err.summary}`, { ...err.details(), check: name })
  const message = err instanceof Error ? err.message : String(err)
  return new CloudSecretsError('CHECK_FAILED', `startup check "${name}" failed: ${message}`, { check: name, cause: err, fix: `fix what check "${name}" verifies (see its error above), then start again` })
}

/** Loads the secrets; each settled secret is reported to `onSecret` (its value never is). */
export async function loadSecrets (references: readonly SecretReference[], providers: ReadonlyMap<ProviderName, Provider>, identities: Partial<Record<ProviderName, Identity>>, deadline: Deadline, log: Logger, options: { internal?: InternalOptions, retry: RetryPolicy, onSecret?: (report: SecretReport) => void }): Promise<LoadedSecrets> {
  return await loadAllSecrets(references, providers, identities, deadline, log, {
    concurrency: options.internal?.concurrency ?? DEFAULT_CONCURRENCY,
    retry: options.retry,
    onSecret: options.onSecret
  })
}

export async function closeProviders (providers: ReadonlyMap<ProviderName, Provider>, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const grace = new Promise<void>((resolve) => { timer = setTimeout(resolve, CLOSE_GRACE_MS); timer.unref() })
  const closing = Promise.allSettled([...providers.values()].map(async (p) => {
    try {
      await p.close()
    } catch (err) {
      log.warn({ provider: p.name, err: { message: (err as Error).message } }, 'closing a provider failed')
    }
  }))
  await Promise.race([closing, grace])
  clearTimeout(timer)
}

/** One failure is thrown as is; several (one per provider) are reported together; a TIMEOUT wins. */
export function throwAll (failures: readonly ProviderFailure[]): void {
  const errors = failures.map((f) => f.error)
  if (errors.length === 0) return
  const timeout = errors.find((e) => isDeadlineError(e))
  if (timeout !== undefined) throw timeout
  if (errors.length === 1) throw errors[0]
  throw loadFailedError(errors.map((e) => e instanceof CloudSecretsError ? e : new CloudSecretsError('UNAVAILABLE', String((e as Error)?.message ?? e), { cause: e })))
}

function failuresOf (names: readonly ProviderName[], results: ReadonlyArray<PromiseSettledResult<unknown>>): ProviderFailure[] {
  const failures: ProviderFailure[] = []
  results.forEach((r, i) => { if (r.status === 'rejected') failures.push({ provider: names[i], error: r.reason }) })
  return failures
}
