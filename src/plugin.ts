import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { performance } from 'node:perf_hooks'
import { Deadline } from './deadline.js'
import { CloudSecretsError, configError, loadFailedError } from './errors.js'
import { createStepContext, loadAllSecrets, DEFAULT_CONCURRENCY } from './loader.js'
import { normalizeOptions, type NormalizedConfig } from './options.js'
import { PROVIDER_MODULES } from './providers/index.js'
import type { Provider } from './providers/types.js'
import { createCloudContext, createSecretsObject } from './redaction.js'
import { DEFAULT_RETRY, type RetryPolicy } from './retry.js'
import type { CloudContext, CloudSecretsOptions, Identity, Logger, ProviderName, SecretsRecord } from './types.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** the loaded secrets: frozen, alias → value; serializes as [redacted] */
    secrets: SecretsRecord
    /** identity report and authenticated cloud clients */
    cloud: CloudContext
  }
  interface FastifyRequest {
    /** the same object as app.cloud (a getter: no per-request allocation) */
    cloud: CloudContext
  }
}

/** Internal knobs for the testing export, benchmarks and tests. Not part of the public contract. */
export const kInternal = Symbol.for('fastify-cloud-secrets.internal')
export interface InternalOptions {
  identity?: Partial<Identity>
  retry?: Partial<RetryPolicy>
  concurrency?: number
}
type PluginOptions = CloudSecretsOptions & { [kInternal]?: InternalOptions }

/** How long closing may take after a failed startup before we stop waiting for it. */
const CLOSE_GRACE_MS = 1000

const cloudSecrets: FastifyPluginAsync<CloudSecretsOptions> = async function cloudSecrets (app, options: PluginOptions) {
  const started = performance.now()
  const internal = options[kInternal] ?? {}
  const config = normalizeConfig(app, options)
  const deadline = new Deadline(config.timeoutMs)
  const retry: RetryPolicy = { ...DEFAULT_RETRY, ...internal.retry }
  const log = app.log
  const providers = new Map<ProviderName, Provider>()
  try {
    await selectProviders(config, providers, deadline, log, internal)
    const identities = await resolveIdentities(providers, deadline, log, retry)
    const identity = identities[config.providers[0]] as Identity
    const cloud = createCloudContext(identity, identities, Object.fromEntries([...providers].map(([name, p]) => [name, p.clients()])))
    const checkFailures = await runChecks(config, providers, cloud, deadline, log, retry)
    const loaded = await loadAllSecrets(config.references, providers, identities, deadline, log, { concurrency: internal.concurrency ?? DEFAULT_CONCURRENCY, retry })
    const failures = [...checkFailures, ...loaded.failures]
    if (deadline.isExpired) throw deadline.error
    if (failures.length > 0) throw loadFailedError(failures)
    decorate(app, createSecretsObject(loaded.values), cloud)
    registerOnClose(app, providers, log)
    logStartup(log, config, identities, loaded.values.size, performance.now() - started)
  } catch (err) {
    await closeProviders(providers, log)
    throw err
  } finally {
    deadline.dispose()
  }
}

function normalizeConfig (app: FastifyInstance, options: PluginOptions): NormalizedConfig {
  const config = normalizeOptions(options, { pluginTimeout: app.initialConfig.pluginTimeout ?? 10_000 })
  if (config.checks.scopes.length > 0 && !(config.provider === 'azure' || config.provider === 'gcp')) {
    throw configError([{ source: options.checks?.scopes !== undefined ? 'options.checks.scopes' : 'CLOUD_SECRETS_CHECK_SCOPES', message: `token scopes are checked on azure and gcp; provider ${config.provider ?? 'auto'} has none` }])
  }
  if (config.refreshMs !== undefined) {
    app.log.warn({ refreshMs: config.refreshMs }, 'cloud secrets: CLOUD_SECRETS_REFRESH_MS is not supported in this version; secrets are loaded once at startup')
  }
  return config
}

/** Imports each configured provider (and so its SDK) lazily; every missing SDK is reported. */
async function selectProviders (config: NormalizedConfig, providers: Map<ProviderName, Provider>, deadline: Deadline, log: Logger, internal: InternalOptions): Promise<void> {
  const results = await Promise.allSettled(config.providers.map(async (name) => {
    const provider = await deadline.run(`load provider ${name}`, async () => {
      const mod = await PROVIDER_MODULES[name]()
      return await mod.createProvider({ config, log: log.child({ provider: name }), identityOverride: internal.identity })
    })
    providers.set(name, provider)
  }))
  throwAll(results)
}

async function resolveIdentities (providers: ReadonlyMap<ProviderName, Provider>, deadline: Deadline, log: Logger, retry: RetryPolicy): Promise<Partial<Record<ProviderName, Identity>>> {
  const identities: Partial<Record<ProviderName, Identity>> = {}
  const results = await Promise.allSettled([...providers].map(async ([name, provider]) => {
    identities[name] = Object.freeze(await deadline.run(`identity (${name})`, async () => await provider.resolveIdentity(createStepContext(deadline, log.child({ provider: name }), retry))))
  }))
  throwAll(results)
  return identities
}

async function runChecks (config: NormalizedConfig, providers: ReadonlyMap<ProviderName, Provider>, cloud: CloudContext, deadline: Deadline, log: Logger, retry: RetryPolicy): Promise<CloudSecretsError[]> {
  const failures: CloudSecretsError[] = []
  const tasks: Array<Promise<void>> = []
  const primary = config.provider === undefined ? undefined : providers.get(config.provider)
  if (config.checks.scopes.length > 0 && primary?.checkScopes !== undefined) {
    const ctx = createStepContext(deadline, log.child({ provider: primary.name }), retry)
    tasks.push(deadline.run(`token scopes (${primary.name})`, async () => { await primary.checkScopes?.(config.checks.scopes, ctx) }).catch((err: unknown) => {
      if (err instanceof CloudSecretsError && err.kind === 'TIMEOUT') throw err
      failures.push(asCheckFailure('token scopes', err))
    }))
  }
  for (const { name, fn } of config.checks.custom) {
    tasks.push(deadline.run(`check "${name}"`, async () => { await fn(cloud) }).catch((err: unknown) => {
      if (err instanceof CloudSecretsError && err.kind === 'TIMEOUT') throw err
      failures.push(asCheckFailure(name, err))
    }))
  }
  await Promise.all(tasks)
  for (const f of failures) deadline.recordFailure(f)
  return failures
}

function asCheckFailure (name: string, err: unknown): CloudSecretsError {
  if (err instanceof CloudSecretsError) return new CloudSecretsError(err.kind, `check "${name}": ${err.summary}`, { ...err.details(), check: name })
  const message = err instanceof Error ? err.message : String(err)
  return new CloudSecretsError('CHECK_FAILED', `startup check "${name}" failed: ${message}`, { check: name, cause: err, fix: `fix what check "${name}" verifies (see its error above), then start again` })
}

function decorate (app: FastifyInstance, secrets: SecretsRecord, cloud: CloudContext): void {
  app.decorate('secrets', secrets)
  app.decorate('cloud', cloud)
  app.decorateRequest('cloud', {
    getter (this: { server: FastifyInstance }) { return this.server.cloud }
  })
}

function registerOnClose (app: FastifyInstance, providers: ReadonlyMap<ProviderName, Provider>, log: Logger): void {
  app.addHook('onClose', async () => { await closeProviders(providers, log) })
}

async function closeProviders (providers: ReadonlyMap<ProviderName, Provider>, log: Logger): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const grace = new Promise<void>((resolve) => { timer = setTimeout(resolve, CLOSE_GRACE_MS); timer.unref() })
  const closing = Promise.allSettled([...providers.values()].map(async (p) => {
    try {
      await p.close()
    } catch (err) {
      log.warn({ provider: p.name, err: { message: (err as Error).message } }, 'cloud secrets: closing a provider failed')
    }
  }))
  await Promise.race([closing, grace])
  clearTimeout(timer)
}

function logStartup (log: Logger, config: NormalizedConfig, identities: Partial<Record<ProviderName, Identity>>, count: number, ms: number): void {
  const identity = identities[config.providers[0]] as Identity
  log.info({
    provider: identity.provider,
    platform: identity.platform,
    source: identity.source,
    principal: identity.principal,
    providers: config.providers.length > 1 ? config.providers : undefined,
    chosenBy: config.providerChosenBy,
    secrets: count,
    ms: Math.round(ms)
  }, 'cloud secrets loaded')
}

/** One failure is thrown as is; several (one per provider) are reported together. */
function throwAll (results: Array<PromiseSettledResult<unknown>>): void {
  const errors = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown)
  if (errors.length === 0) return
  const timeout = errors.find((e) => e instanceof CloudSecretsError && e.kind === 'TIMEOUT')
  if (timeout !== undefined) throw timeout
  if (errors.length === 1) throw errors[0]
  throw loadFailedError(errors.map((e) => e instanceof CloudSecretsError ? e : new CloudSecretsError('UNAVAILABLE', String((e as Error)?.message ?? e), { cause: e })))
}

export const plugin = cloudSecrets
export default fp(cloudSecrets, { name: 'fastify-cloud-secrets', fastify: '5.x' })
