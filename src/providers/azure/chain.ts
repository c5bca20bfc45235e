import type { ChildProcess } from 'node:child_process'
import type { AccessToken, TokenCredential } from '@azure/core-auth'
import type { CredentialAttempt } from '../../errors.js'
import { configError, isDeadlineError } from '../../errors.js'
import type { Env } from '../../shared/env.js'
import type { RequestLifetime } from '../../shared/request-lifetime.js'
import type { StepContext } from '../types.js'
import { CliCredential } from './credentials/cli.js'
import { IMDS_HOST, IMDS_TOKEN_PATH, ManagedIdentityHttpCredential, managedIdentityEndpoint } from './credentials/managed-identity.js'
import { SourceUnavailableError } from './credentials/unavailable.js'
import { nonEmpty } from '../../shared/env.js'
import { classifyCredentialError, credentialFailureError, scrub, type CredentialFailure } from './errors.js'
import { dmiVendor } from './platform.js'
import type { AzureSource, ChainLink } from './types.js'

// The DefaultAzureCredential-equivalent chain: which sources AZURE_TOKEN_CREDENTIALS selects, a
// link per source built from the env, and the walk that stops at the first token.

type IdentitySdk = typeof import('@azure/identity')

export const PUBLIC_AUTHORITY = 'https://login.microsoftonline.com'

const TOKEN_CREDENTIAL_NAMES: Record<string, AzureSource[]> = {
  prod: ['azure:environment', 'azure:workload-identity', 'azure:managed-identity'],
  dev: ['azure:cli', 'azure:developer-cli'],
  environmentcredential: ['azure:environment'],
  workloadidentitycredential: ['azure:workload-identity'],
  managedidentitycredential: ['azure:managed-identity'],
  azureclicredential: ['azure:cli'],
  azuredeveloperclicredential: ['azure:developer-cli']
}
const ALL_SOURCES: AzureSource[] = ['azure:environment', 'azure:workload-identity', 'azure:managed-identity', 'azure:cli', 'azure:developer-cli']

/** AZURE_TOKEN_CREDENTIALS narrows the chain as it does for DefaultAzureCredential. */
export function selectedSources (env: Env): AzureSource[] {
  const setting = env.AZURE_TOKEN_CREDENTIALS?.trim().toLowerCase()
  if (setting === undefined || setting === '') return ALL_SOURCES
  const sources = TOKEN_CREDENTIAL_NAMES[setting]
  if (sources === undefined) {
    throw configError([{ source: 'AZURE_TOKEN_CREDENTIALS', message: `"${setting.slice(0, 40)}" is not one of prod, dev, EnvironmentCredential, WorkloadIdentityCredential, ManagedIdentityCredential, AzureCliCredential, AzureDeveloperCliCredential` }])
  }
  return sources
}

export interface ChainOptions {
  /**
   * Imports @azure/identity. Called only when a configured link is one of its credentials
   * (service principal, workload identity, Service Fabric / Arc / Cloud Shell managed identity):
   * managed identity over App Service or IMDS and the CLIs are the plugin's own, and a boot
   * that wins with them never loads the package.
   */
  identitySdk: () => Promise<IdentitySdk>
  env: Env
  /** shared options for every SDK credential (httpClient that can abort, no SDK retries) */
  credentialOptions: Record<string, unknown>
  /** CLI processes still running, so close() can kill them */
  children: Set<ChildProcess>
  /** ties our own HTTP requests (managed identity) to the deadline and close() */
  scope: RequestLifetime
  /** DMI vendor override, for tests */
  dmi?: () => string | undefined
}

/** A link as the env describes it, before its credential exists. */
interface PlannedLink extends Omit<ChainLink, 'credential'> {
  /** the plugin's own credential (managed identity over HTTP, az, azd) */
  own?: () => TokenCredential
  /** one of @azure/identity's credentials */
  fromSdk?: (sdk: IdentitySdk) => TokenCredential
}

/** Builds every link of the chain; links that cannot work here carry the reason. */
export async function buildChain (options: ChainOptions): Promise<ChainLink[]> {
  const planned = selectedSources(options.env).map((source) => planLink(source, options))
  const sdk = planned.some((link) => link.fromSdk !== undefined) ? await options.identitySdk() : undefined
  return planned.map((link) => construct(link, sdk))
}

function construct ({ own, fromSdk, ...link }: PlannedLink, sdk: IdentitySdk | undefined): ChainLink {
  try {
    if (own !== undefined) return { ...link, credential: own() }
    if (fromSdk !== undefined) return { ...link, credential: fromSdk(sdk as IdentitySdk) }
    return link
  } catch (err) {
    // DefaultAzureCredential turns a credential that cannot even be built into "unavailable"
    return { source: link.source, credentialName: link.source, describe: link.source, skipReason: `cannot be used here: ${scrub((err as Error).message).slice(0, 300)}` }
  }
}

function planLink (source: AzureSource, options: ChainOptions): PlannedLink {
  switch (source) {
    case 'azure:environment': return environmentLink(options)
    case 'azure:workload-identity': return workloadIdentityLink(options)
    case 'azure:managed-identity': return managedIdentityLink(options)
    case 'azure:cli':
      return { source, credentialName: 'AzureCliCredential', describe: 'Azure CLI: az account get-access-token', own: () => new CliCredential('az', options.children) }
    case 'azure:developer-cli':
      return { source, credentialName: 'AzureDeveloperCliCredential', describe: 'Azure Developer CLI: azd auth token', own: () => new CliCredential('azd', options.children) }
  }
}

/** the authority and app every Entra credential of the env shares */
function entraApp (options: ChainOptions): { authorityHost: string, tenantId?: string, clientId?: string, common: Record<string, unknown> } {
  const { env } = options
  const authorityHost = nonEmpty(env.AZURE_AUTHORITY_HOST) ? env.AZURE_AUTHORITY_HOST.trim().replace(/\/+$/, '') : PUBLIC_AUTHORITY
  return { authorityHost, tenantId: env.AZURE_TENANT_ID?.trim(), clientId: env.AZURE_CLIENT_ID?.trim(), common: { ...options.credentialOptions, authorityHost } }
}

/** EnvironmentCredential: a client secret, else a certificate, of AZURE_CLIENT_ID in AZURE_TENANT_ID. */
function environmentLink (options: ChainOptions): PlannedLink {
  const { env } = options
  const { authorityHost, tenantId, clientId, common } = entraApp(options)
  const source = 'azure:environment'
  const secret = env.AZURE_CLIENT_SECRET
  const certificatePath = env.AZURE_CLIENT_CERTIFICATE_PATH?.trim()
  const missing = ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID'].filter((n) => !nonEmpty(env[n]))
  if (nonEmpty(secret) && missing.length === 0) {
    return {
      source,
      credentialName: 'EnvironmentCredential (ClientSecretCredential)',
      describe: `environment: client secret of app ${clientId} at ${authorityHost}/${tenantId}`,
      fromSdk: (sdk) => new sdk.ClientSecretCredential(tenantId as string, clientId as string, secret, common)
    }
  }
  if (nonEmpty(certificatePath) && missing.length === 0) {
    return {
      source,
      credentialName: 'EnvironmentCredential (ClientCertificateCredential)',
      describe: `environment: certificate ${certificatePath} of app ${clientId} at ${authorityHost}/${tenantId}`,
      fromSdk: (sdk) => new sdk.ClientCertificateCredential(tenantId as string, clientId as string, {
        certificatePath,
        certificatePassword: env.AZURE_CLIENT_CERTIFICATE_PASSWORD
      }, { ...common, sendCertificateChain: env.AZURE_CLIENT_SEND_CERTIFICATE_CHAIN === 'true' || env.AZURE_CLIENT_SEND_CERTIFICATE_CHAIN === '1' })
    }
  }
  return {
    source,
    credentialName: 'EnvironmentCredential',
    describe: 'environment (AZURE_CLIENT_SECRET / AZURE_CLIENT_CERTIFICATE_PATH)',
    skipReason: nonEmpty(secret) || nonEmpty(certificatePath)
      ? `incomplete: ${missing.join(' and ')} not set`
      : 'not configured: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH) are not set'
  }
}

/** WorkloadIdentityCredential: AKS's federated token file for AZURE_CLIENT_ID. */
function workloadIdentityLink (options: ChainOptions): PlannedLink {
  const { env } = options
  const { authorityHost, tenantId, clientId, common } = entraApp(options)
  const source = 'azure:workload-identity'
  const tokenFile = env.AZURE_FEDERATED_TOKEN_FILE?.trim()
  if (nonEmpty(tokenFile) && nonEmpty(clientId) && nonEmpty(tenantId)) {
    return {
      source,
      credentialName: 'WorkloadIdentityCredential',
      describe: `workload identity: app ${clientId} at ${authorityHost}/${tenantId} (token file ${tokenFile})`,
      fromSdk: (sdk) => new sdk.WorkloadIdentityCredential({ ...common, tenantId, clientId, tokenFilePath: tokenFile })
    }
  }
  const missing = ['AZURE_FEDERATED_TOKEN_FILE', 'AZURE_CLIENT_ID', 'AZURE_TENANT_ID'].filter((n) => !nonEmpty(env[n]))
  return {
    source,
    credentialName: 'WorkloadIdentityCredential',
    describe: 'workload identity (AKS)',
    skipReason: missing.length === 3 ? 'not configured: AZURE_FEDERATED_TOKEN_FILE is not set (no AKS workload identity)' : `incomplete: ${missing.join(', ')} not set`
  }
}

/** ManagedIdentityCredential: ours for App Service style endpoints and IMDS, the SDK's for the rest. */
function managedIdentityLink (options: ChainOptions): PlannedLink {
  const { env, credentialOptions } = options
  const clientId = env.AZURE_CLIENT_ID?.trim()
  const source = 'azure:managed-identity'
  const credentialName = 'ManagedIdentityCredential'
  const who = nonEmpty(clientId) ? `user-assigned identity ${clientId}` : 'system-assigned identity'
  const { kind: miKind, where } = managedIdentityEndpoint(env)
  if (miKind === 'imds' && !nonEmpty(env.AZURE_POD_IDENTITY_AUTHORITY_HOST)) {
    // DefaultAzureCredential probes IMDS everywhere; a Linux host whose firmware is not Microsoft's
    // is not an Azure VM, so the probe (up to 1 s, and a packet to a link-local address) is skipped
    const vendor = (options.dmi ?? dmiVendor)()
    if (vendor !== undefined && !/microsoft/i.test(vendor)) {
      return {
        source,
        credentialName,
        describe: `managed identity: IMDS ${IMDS_HOST}`,
        miKind,
        skipReason: `not on Azure: no IDENTITY_ENDPOINT, and this machine's firmware vendor is "${vendor.slice(0, 40)}", not an Azure VM (IMDS not probed)`
      }
    }
  }
  const label = miKind === 'imds' ? `IMDS ${where}` : `${miKind === 'app-service' ? 'App Service / Container Apps / Functions' : miKind} endpoint ${where}`
  const describe = `managed identity (${who}): ${label}`
  if (miKind === 'app-service') {
    return { source, credentialName, describe, miKind, own: () => new ManagedIdentityHttpCredential({ kind: miKind, tokenUrl: where, header: env.IDENTITY_HEADER, clientId, scope: options.scope }) }
  }
  if (miKind === 'imds') {
    return { source, credentialName, describe, miKind, own: () => new ManagedIdentityHttpCredential({ kind: miKind, tokenUrl: `${where.replace(/\/+$/, '')}${IMDS_TOKEN_PATH}`, clientId, scope: options.scope, probe: !nonEmpty(env.AZURE_POD_IDENTITY_AUTHORITY_HOST) }) }
  }
  // Service Fabric, Azure Arc, Cloud Shell: the SDK's credential
  return {
    source,
    credentialName,
    describe,
    miKind,
    fromSdk: (sdk) => new sdk.ManagedIdentityCredential({
      ...credentialOptions,
      ...(nonEmpty(clientId) ? { clientId } : {}),
      retryOptions: { maxRetries: 0 }
    } as never)
  }
}

export interface ChainResult {
  link: ChainLink
  token: AccessToken
}

/**
 * Walks the chain like DefaultAzureCredential: a credential that is not available falls through,
 * one that is configured and rejected stops it. Each attempt is a bounded step of the deadline.
 */
export async function walkChain (links: readonly ChainLink[], scope: string, ctx: StepContext, attempts: CredentialAttempt[]): Promise<ChainResult> {
  const failures: CredentialFailure[] = []
  for (const link of links) {
    if (link.credential === undefined) {
      attempts.push({ source: link.source, outcome: 'skipped', reason: `${link.credentialName}: ${link.skipReason ?? 'not available'}` })
      continue
    }
    const credential = link.credential
    try {
      const token = await ctx.retry(`identity: ${link.describe}`, async (signal) => {
        const result = await credential.getToken(scope, { abortSignal: signal })
        if (result === null) throw new SourceUnavailableError(`${link.credentialName} returned no token`)
        return result
      }, (err) => classifyCredentialError(link, err))
      attempts.push({ source: link.source, outcome: 'ok', reason: `${link.credentialName}: token for ${scope}` })
      return { link, token }
    } catch (err) {
      if (isDeadlineError(err)) {
        attempts.push({ source: link.source, outcome: 'failed', reason: `${link.credentialName}: no answer before the startup deadline (${link.describe})` })
        throw err
      }
      const failure = classifyCredentialError(link, err).failure as CredentialFailure
      failures.push(failure)
      attempts.push({ source: link.source, outcome: failure.unavailable ? 'skipped' : 'failed', reason: `${link.credentialName}: ${failure.reason}` })
      if (failure.stopsChain) break
    }
  }
  throw credentialFailureError(failures, attempts, scope)
}
