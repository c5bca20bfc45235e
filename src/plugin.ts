import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { performance } from 'node:perf_hooks'
import { Deadline } from './deadline.js'
import { alreadyRegisteredError, loadFailedError } from './errors.js'
import type { NormalizedConfig } from './options.js'
import type { Provider } from './providers/types.js'
import { createCloudContext, createSecretsObject } from './redaction.js'
import { closeProviders, loadSecrets, normalizeConfig, resolveIdentities, retryPolicy, runChecks, selectProviders, throwAll, type InternalOptions } from './startup.js'
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
    const cloud = createCloudContext(identity, identities, Object.fromEntries([...providers].map(([name, p]) => [name, p.clients()])))
    const checkFailures = await runChecks(config, providers, cloud, deadline, log, retry)
    const loaded = await loadSecrets(config.references, providers, identities, deadline, log, { internal, retry })
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
    signal?.removeEventListener('abort', onAbort)
    deadline.dispose()
  }
}

// getters without setters: app code can read app.secrets and app.cloud but never swap them
function decorate (app: FastifyInstance, secrets: SecretsRecord, cloud: CloudContext): void {
  app.decorate('secrets', { getter: () => secrets })
  app.decorate('cloud', { getter: () => cloud })
  // the shared object itself: no per-request allocation, and no walk through request.server
  app.decorateRequest('cloud', { getter: () => cloud })
}

function registerOnClose (app: FastifyInstance, providers: ReadonlyMap<ProviderName, Provider>, log: Logger): void {
  app.addHook('onClose', async () => { await closeProviders(providers, log) })
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

export const plugin = cloudSecrets
export default fp(cloudSecrets, { name: 'fastify-cloud-secrets', fastify: '5.x' })
