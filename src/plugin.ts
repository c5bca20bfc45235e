import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { performance } from 'node:perf_hooks'
import { Deadline } from './deadline.js'
import { alreadyRegisteredError, loadFailedError } from './errors.js'
import type { NormalizedConfig } from './options.js'
import type { RetryPolicy } from './retry.js'
import type { Provider } from './providers/types.js'
import { createCloudContext } from './cloud-context.js'
import { createSecretsObject } from './secrets-object.js'
import { formatDuration } from './refresh/interval.js'
import { SecretsRefresher } from './refresh/refresher.js'
import { DEFAULT_CONCURRENCY } from './loader.js'
import { CLOSE_GRACE_MS, closeProviders, loadSecrets, normalizeConfig, resolveIdentities, retryPolicy, runChecks, selectProviders, throwAll, warnShortInterval, type InternalOptions } from './startup.js'
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
    /** the secrets snapshot that was current when this request started (with refresh on, app.secrets may be newer) */
    secrets: SecretsRecord
  }
}

/** Internal knobs for the testing export, benchmarks and tests. Not part of the public contract. */
export const kInternal = Symbol.for('fastify-cloud-secrets.internal')
export type { InternalOptions }
type PluginOptions = CloudSecretsOptions & { [kInternal]?: InternalOptions }

// The steps live in src/startup.ts, shared with the `doctor` command; this body is the story.
const cloudSecrets: FastifyPluginAsync<CloudSecretsOptions> = async function cloudSecrets (app, options: PluginOptions) {
  // before any work: a second registration would otherwise do all the network work, then die on decorate
  if (app.hasDecorator('secrets') || app.hasDecorator('cloud')) throw alreadyRegisteredError()
  const started = performance.now()
  const internal = options[kInternal] ?? {}
  // every line of ours carries this binding (filter on it), instead of a message prefix
  const log = app.log.child({ plugin: 'fastify-cloud-secrets' })
  const config = normalizeConfig(options, app.initialConfig.pluginTimeout ?? 10_000, log)
  const deadline = new Deadline(config.timeoutMs)
  const retry = retryPolicy(internal)
  const providers = new Map<ProviderName, Provider>()
  const signal = options.signal
  const onAbort = (): void => { deadline.abort(signal?.reason) }
  if (signal?.aborted === true) onAbort()
  signal?.addEventListener('abort', onAbort, { once: true })
  try {
    if (deadline.isExpired) throw deadline.error
    throwAll(await selectProviders(config, providers, deadline, log, internal))
    const { identities, failures: identityFailures } = await resolveIdentities(providers, deadline, log, retry)
    throwAll(identityFailures)
    const identity = identities[config.providers[0]] as Identity
    const refresher = createRefresher(config, providers, log, retry, internal)
    const cloud = createCloudContext(identity, identities, Object.fromEntries([...providers].map(([name, p]) => [name, p.clients()])), refresher?.api)
    const checkFailures = await runChecks(config, providers, cloud, deadline, log, retry)
    const versions = new Map<string, string | undefined>()
    const loaded = await loadSecrets(config.references, providers, identities, deadline, log, { internal, retry, onSecret: (r) => { versions.set(r.alias, r.version) } })
    const failures = [...checkFailures, ...loaded.failures]
    if (deadline.isExpired) throw deadline.error
    if (failures.length > 0) throw loadFailedError(failures)
    if (refresher === undefined) {
      decorate(app, createSecretsObject(loaded.values), cloud)
    } else {
      refresher.seed(loaded.values, versions, identities)
      decorateRefreshing(app, refresher, cloud)
      warnShortInterval(config, providers, log)
    }
    registerOnClose(app, providers, log, refresher)
    logStartup(log, config, identities, loaded.values.size, performance.now() - started)
  } catch (err) {
    await closeProviders(providers, log)
    throw err
  } finally {
    signal?.removeEventListener('abort', onAbort)
    deadline.dispose()
  }
}

function createRefresher (config: NormalizedConfig, providers: ReadonlyMap<ProviderName, Provider>, log: Logger, retry: RetryPolicy, internal: InternalOptions): SecretsRefresher | undefined {
  if (config.refresh === undefined) return undefined
  return new SecretsRefresher({
    config: config.refresh,
    timeoutMs: config.timeoutMs,
    references: config.references,
    providers,
    log,
    retry,
    concurrency: internal.concurrency ?? DEFAULT_CONCURRENCY,
    clock: internal.refresh?.clock,
    random: internal.refresh?.random
  })
}

// getters without setters: app code can read app.secrets and app.cloud but never swap them
function decorate (app: FastifyInstance, secrets: SecretsRecord, cloud: CloudContext): void {
  app.decorate('secrets', { getter: () => secrets })
  app.decorate('cloud', { getter: () => cloud })
  // the shared object itself: no per-request allocation, and no walk through request.server
  app.decorateRequest('cloud', { getter: () => cloud })
  // without refresh the snapshot never changes: the request sees the same object
  app.decorateRequest('secrets', { getter: () => secrets })
}

/**
 * With refresh: decorated once, like without it; the getter reads whichever complete snapshot is
 * current (a swap is one reference assignment), and each request keeps the one it started with.
 */
function decorateRefreshing (app: FastifyInstance, refresher: SecretsRefresher, cloud: CloudContext): void {
  app.decorate('secrets', { getter: () => refresher.snapshot })
  app.decorate('cloud', { getter: () => cloud })
  app.decorateRequest('cloud', { getter: () => cloud })
  app.decorateRequest('secrets', null as unknown as SecretsRecord)
  app.addHook('onRequest', (request, _reply, done) => {
    request.secrets = refresher.snapshot
    done()
  })
  app.addHook('onReady', async () => { refresher.start() })
}

function registerOnClose (app: FastifyInstance, providers: ReadonlyMap<ProviderName, Provider>, log: Logger, refresher?: SecretsRefresher): void {
  app.addHook('onClose', async () => {
    // first the schedule and the cycle in flight, then the clients it was using
    await refresher?.close(CLOSE_GRACE_MS)
    await closeProviders(providers, log)
  })
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
    refresh: config.refresh === undefined ? undefined : formatDuration(config.refresh.intervalMs),
    ms: Math.round(ms)
  }, 'cloud secrets loaded')
}

export const plugin = cloudSecrets
export default fp(cloudSecrets, { name: 'fastify-cloud-secrets', fastify: '5.x' })
