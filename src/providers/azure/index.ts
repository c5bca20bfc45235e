import type { ChildProcess } from 'node:child_process'
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth'
import { CloudSecretsError, isDeadlineError, type CredentialAttempt } from '../../errors.js'
import { importSdk, requireFromSdk, requireInstalled, requireSdk } from '../../shared/sdk.js'
import type { Identity } from '../../types.js'
import type { CreateProvider, Provider, ProviderInit, StepContext } from '../types.js'
import { RequestLifetime } from '../../shared/request-lifetime.js'
import { createClients } from './clients.js'
import { createVaultReader } from './vault-reader.js'
import { classifyCredentialError, registerSensitive } from './errors.js'
import { grantDocuments, secretLocation } from './grant.js'
import { buildChain, walkChain } from './chain.js'
import { SourceUnavailableError } from './credentials/unavailable.js'
import { identityReport } from './identity.js'
import type { ChainLink } from './types.js'
import { azureRefreshCost, changedAzureSecrets } from './refresh.js'
import { WarmAgent } from '../../shared/warm-agent.js'
import { DEFAULT_CONCURRENCY } from '../../loader.js'
import { loadSecrets, openVaults, vaultScopes, type ReadSecret, type VaultOpener } from './secrets.js'
import { sdkProxyApplies } from '../../shared/proxy.js'

const AZURE_PACKAGES = ['@azure/identity', '@azure/keyvault-secrets']
/** what a boot asks a token for when it references no vault and checks no scope */
const ARM_SCOPE = 'https://management.azure.com/.default'

/**
 * Provider `azure`: a DefaultAzureCredential-equivalent chain whose winner we know, Key Vault's
 * Get Secret over a warm pool (vault-reader.ts; the app's SecretClient per vault is built on first
 * use), and every network step bounded by the startup deadline.
 */
export const createProvider: CreateProvider = async (init: ProviderInit): Promise<Provider> => {
  const { config, log, identityOverride } = init
  const env = config.env
  // both packages are the user's to install; @azure/identity is imported only by the chain links
  // that are its credentials (see buildChain), so a boot on managed identity or a CLI skips it
  requireInstalled('azure', AZURE_PACKAGES)
  const refs = config.references.filter((r) => r.provider === 'azure')
  // each vault's connections open now: their handshakes (two round trips on a real network) ride
  // beside the SDK import, then the token request; the reads find the pool warm
  const vaults = new Map<string, number>()
  for (const ref of refs) {
    const where = secretLocation(ref, config.azure.vaultUrl)
    if (where !== undefined) vaults.set(where.vaultUrl, (vaults.get(where.vaultUrl) ?? 0) + 1)
  }
  // a vault the environment's proxy applies to is read through the SDK's SecretClient, whose
  // pipeline goes through the proxy; the others over the plugin's own warm pool (vault-reader.ts)
  const proxied = (vaultUrl: string): boolean => sdkProxyApplies(new URL(vaultUrl).hostname)
  const direct = [...vaults].filter(([vaultUrl]) => !proxied(vaultUrl))
  const pool = new WarmAgent({ maxSockets: DEFAULT_CONCURRENCY })
  for (const [vaultUrl, count] of direct) pool.warm(vaultUrl, Math.min(count, DEFAULT_CONCURRENCY))
  // The startup reads need no SDK (vault-reader.ts); the Key Vault SDK and its pipeline load, as
  // CommonJS, when the app builds a SecretClient, a refresh lists a vault, or a chain link that is
  // an @azure/identity credential sends its first request. The pipeline is resolved from inside
  // @azure/keyvault-secrets' own tree (its direct dependency), so the user installs only the two
  // main packages and pnpm / Yarn PnP find it too.
  let secretsSdk: typeof import('@azure/keyvault-secrets') | undefined
  let pipelineSdk: typeof import('@azure/core-rest-pipeline') | undefined
  registerSensitive(env.AZURE_CLIENT_SECRET, env.IDENTITY_HEADER, env.MSI_SECRET, env.AZURE_CLIENT_CERTIFICATE_PASSWORD)

  const children = new Set<ChildProcess>()
  const scope = new RequestLifetime()
  let selected: ChainLink | undefined
  let identity: Identity | undefined
  let attempts: CredentialAttempt[] = []
  // the boot's identity resolution, which a vault's early first read waits for once challenged
  let resolving: Promise<unknown> | undefined
  let challengeSeen: (() => void) | undefined
  let openers: Map<string, VaultOpener> | undefined

  // the app's credential: the chain link that answered at boot, as DefaultAzureCredential keeps it
  const credential: TokenCredential = {
    async getToken (scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken | null> {
      if (selected?.credential === undefined && resolving !== undefined) await resolving.catch(() => {})
      if (selected?.credential === undefined) throw new SourceUnavailableError('fastify-cloud-secrets: the Azure identity was not resolved')
      const token = await selected.credential.getToken(scopes, options)
      // a vault client asks for a token once it has parsed its 401 challenge; it stores the
      // challenge when this returns, a few microtasks on: the reads waiting for it go a turn later
      const seen = challengeSeen
      if (seen !== undefined) setImmediate(seen)
      return token
    }
  }
  const handle = createClients({
    secretsSdk: () => (secretsSdk ??= requireSdk<typeof import('@azure/keyvault-secrets')>('azure', '@azure/keyvault-secrets')),
    pipelineSdk: () => (pipelineSdk ??= requireFromSdk<typeof import('@azure/core-rest-pipeline')>('azure', '@azure/keyvault-secrets', '@azure/core-rest-pipeline')),
    credential,
    defaultVaultUrl: config.azure.vaultUrl,
    identity: () => identity ?? { provider: 'azure', platform: 'unknown', source: 'unresolved' },
    children,
    scope,
    pool
  })
  const reader = createVaultReader({ credential, scope, agent: pool })
  const read: ReadSecret = async (vaultUrl, name, version, signal) => {
    if (!proxied(vaultUrl)) return await reader.getSecret(vaultUrl, name, version, signal)
    const secret = await handle.secretClient(vaultUrl).getSecret(name, { version, abortSignal: signal })
    return { value: secret.value, version: secret.properties.version, updatedOn: secret.properties.updatedOn?.getTime() }
  }
  let links: ChainLink[]
  try {
    links = await buildChain({
      identitySdk: async () => await importSdk<typeof import('@azure/identity')>('azure', '@azure/identity'),
      env,
      credentialOptions: { httpClient: handle.httpClient, retryOptions: { maxRetries: 0 } },
      children,
      scope
    })
  } catch (err) {
    // no provider comes back to be closed: close what was opened (the warm vault connections)
    await handle.close()
    throw err
  }

  // refresh: the updatedOn of each secret last read, and vaults whose listing is denied
  const stamps = new Map<string, number | undefined>()
  const listDenied = new Set<string>()

  const bootScope = vaultScopes(refs, config.azure.vaultUrl)[0] ?? config.checks.scopes[0] ?? ARM_SCOPE

  return {
    name: 'azure',
    async resolveIdentity (ctx: StepContext): Promise<Identity> {
      scope.bindDeadline(ctx.deadline.signal)
      attempts = []
      // each vault's first read (whose 401 challenge needs no token) goes out beside the token
      // request, over the pool warmed before the import (re-warmed if a close released it)
      for (const [vaultUrl, count] of direct) {
        handle.pooled.add(new URL(vaultUrl).host.toLowerCase())
        pool.warm(vaultUrl, Math.min(count, DEFAULT_CONCURRENCY))
      }
      const walking = walkChain(links, bootScope, ctx, attempts)
      resolving = walking
      const challenged = new Promise<void>((resolve) => { challengeSeen = resolve })
      if (config.checks.custom.length === 0) openers = openVaults(refs, { read, defaultVaultUrl: config.azure.vaultUrl }, ctx.deadline.signal, challenged)
      const { link, token } = await walking
      selected = link
      identity = { ...identityReport(link, token, env), ...identityOverride }
      log.debug({ source: identity.source, principal: identity.principal, scope: bootScope, attempts: attempts.map((a) => `${a.source}:${a.outcome}`) }, 'azure identity resolved')
      return identity
    },
    attempts: () => attempts.map((a) => ({ ...a })),
    grant: (grantRefs, forIdentity) => grantDocuments(grantRefs, forIdentity, config.azure.vaultUrl, config.refresh !== undefined),
    async checkScopes (scopes: readonly string[], ctx: StepContext): Promise<void> {
      scope.bindDeadline(ctx.deadline.signal)
      const link = selected as ChainLink
      const failures: string[] = []
      const causes: unknown[] = []
      await Promise.all(scopes.map(async (scope) => {
        try {
          await ctx.retry(`token scope ${scope} (${link.source})`, async (signal) => {
            const token = await credential.getToken(scope, { abortSignal: signal })
            if (token === null) throw new SourceUnavailableError(`${link.credentialName} returned no token`)
          }, (err) => classifyCredentialError(link, err))
        } catch (err) {
          if (isDeadlineError(err)) throw err
          const classified = classifyCredentialError(link, err)
          failures.push(`  - ${scope}: ${classified.failure?.reason ?? classified.summary}`)
          causes.push(classified.cause)
        }
      }))
      if (failures.length === 0) return
      throw new CloudSecretsError('TOKEN', `${identity?.principal ?? 'the identity'} (${link.source}) could not get a token for ${failures.length} checked scope${failures.length === 1 ? '' : 's'}:\n${failures.join('\n')}`, {
        provider: 'azure',
        principal: identity?.principal,
        cause: causes[0],
        fix: 'a scope is a resource\'s App ID URI plus /.default (e.g. https://database.windows.net/.default); the resource must exist in the tenant of the identity, and consent/role must allow this principal'
      })
    },
    loadSecrets: async (loadRefs, ctx) => {
      scope.bindDeadline(ctx.deadline.signal)
      try {
        return await loadSecrets(loadRefs, ctx, { read, defaultVaultUrl: config.azure.vaultUrl, stamps, openers })
      } finally {
        openers = undefined
        challengeSeen = undefined
        pool.release()
      }
    },
    changedSecrets: async (changeRefs, ctx) => {
      scope.bindDeadline(ctx.deadline.signal)
      return await changedAzureSecrets(changeRefs, ctx, { secretClient: handle.secretClient, defaultVaultUrl: config.azure.vaultUrl, stamps, listDenied, log })
    },
    refreshCost: (costRefs) => azureRefreshCost(costRefs.filter((r) => r.provider === 'azure'), config.azure.vaultUrl),
    clients: handle.clients,
    close: handle.close
  }
}
