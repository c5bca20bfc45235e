import type { ChildProcess } from 'node:child_process'
import { runCommand, type CommandResult } from '../../shared/child-process.js'
import { nonEmpty as has } from '../../shared/env.js'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth'
import type { CredentialAttempt } from '../../errors.js'
import { configError, isDeadlineError } from '../../errors.js'
import type { Env } from '../../shared/env.js'
import type { Identity } from '../../types.js'
import type { StepContext } from '../types.js'
import { jwtClaims } from '../../shared/jwt.js'
import type { RequestLifetime } from '../../shared/request-lifetime.js'
import { classifyCredentialError, credentialFailureError, type CredentialFailure } from './errors.js'

type IdentitySdk = typeof import('@azure/identity')

/** The credential sources of the chain, in DefaultAzureCredential's order. */
export type AzureSource = 'azure:environment' | 'azure:workload-identity' | 'azure:managed-identity' | 'azure:cli' | 'azure:developer-cli'

export const PUBLIC_AUTHORITY = 'https://login.microsoftonline.com'
export const IMDS_HOST = 'http://169.254.169.254'
export const ARM_SCOPE = 'https://management.azure.com/.default'

/** One link of the chain: what it is, and either a credential or why it is not available here. */
export interface ChainLink {
  source: AzureSource
  /** the SDK credential class it stands for, e.g. ManagedIdentityCredential */
  credentialName: string
  /** what the pending-step label and the attempts list call it */
  describe: string
  /** set when the link is configured; undefined means "not available here" (see `skipReason`) */
  credential?: TokenCredential
  skipReason?: string
  /** managed identity: which endpoint kind answers (App Service, IMDS, …) */
  miKind?: 'app-service' | 'imds' | 'msi-endpoint' | 'arc' | 'service-fabric' | 'cloud-shell'
}

export interface AzureTokenClaims {
  oid?: string
  tid?: string
  appid?: string
  azp?: string
  idtyp?: string
  xms_mirid?: string
  upn?: string
  unique_name?: string
  exp?: number
}

/** Reads the claims of an access token for the identity report; the token itself is never kept. */
export function decodeTokenClaims (token: string): AzureTokenClaims {
  const raw = jwtClaims(token, ['oid', 'tid', 'appid', 'azp', 'idtyp', 'xms_mirid', 'upn', 'unique_name', 'exp'])
  const claims: AzureTokenClaims = {}
  for (const key of ['oid', 'tid', 'appid', 'azp', 'idtyp', 'xms_mirid', 'upn', 'unique_name'] as const) {
    const value = raw[key]
    if (typeof value === 'string') claims[key] = value
  }
  if (typeof raw.exp === 'number') claims.exp = raw.exp
  return claims
}

/** user-assigned identities live under Microsoft.ManagedIdentity; a system-assigned one is the resource itself */
export function managedIdentityKind (mirid: string | undefined): 'user-assigned' | 'system-assigned' | undefined {
  if (mirid === undefined) return undefined
  return /\/providers\/microsoft\.managedidentity\/userassignedidentities\//i.test(mirid) ? 'user-assigned' : 'system-assigned'
}

/** Where the process runs, from the platform's own env vars (and whether IMDS answered). */
export function detectPlatform (env: Env, imdsAnswered = false): string {
  if (has(env.FUNCTIONS_WORKER_RUNTIME) || has(env.FUNCTIONS_EXTENSION_VERSION)) return 'functions'
  if (has(env.WEBSITE_SITE_NAME)) return 'app-service'
  if (has(env.CONTAINER_APP_NAME)) return 'container-apps'
  if (has(env.AZURE_FEDERATED_TOKEN_FILE) || has(env.KUBERNETES_SERVICE_HOST)) return 'aks'
  if (imdsAnswered) return 'vm'
  return 'local'
}

/** Linux DMI says whether this is an Azure (Hyper-V) machine; undefined when it cannot tell. */
export function dmiVendor (file = '/sys/class/dmi/id/sys_vendor'): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim()
  } catch {
    return undefined
  }
}

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
  sdk: IdentitySdk
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

/** Builds every link of the chain; links that cannot work here carry the reason. */
export function buildChain (options: ChainOptions): ChainLink[] {
  const { sdk, env, credentialOptions } = options
  const authorityHost = has(env.AZURE_AUTHORITY_HOST) ? env.AZURE_AUTHORITY_HOST.trim().replace(/\/+$/, '') : PUBLIC_AUTHORITY
  const tenantId = env.AZURE_TENANT_ID?.trim()
  const clientId = env.AZURE_CLIENT_ID?.trim()
  const links: ChainLink[] = []
  const sources = selectedSources(env)
  const common = { ...credentialOptions, authorityHost }

  for (const source of sources) {
    try {
      addLink(source)
    } catch (err) {
      // DefaultAzureCredential turns a credential that cannot even be built into "unavailable"
      links.push({ source, credentialName: source, describe: source, skipReason: `cannot be used here: ${scrubCliText((err as Error).message)}` })
    }
  }
  return links

  function addLink (source: AzureSource): void {
    switch (source) {
      case 'azure:environment': {
        const secret = env.AZURE_CLIENT_SECRET
        const certificatePath = env.AZURE_CLIENT_CERTIFICATE_PATH?.trim()
        const missing = ['AZURE_TENANT_ID', 'AZURE_CLIENT_ID'].filter((n) => !has(env[n]))
        if (has(secret) && missing.length === 0) {
          links.push({
            source,
            credentialName: 'EnvironmentCredential (ClientSecretCredential)',
            describe: `environment: client secret of app ${clientId} at ${authorityHost}/${tenantId}`,
            credential: new sdk.ClientSecretCredential(tenantId as string, clientId as string, secret, common)
          })
        } else if (has(certificatePath) && missing.length === 0) {
          links.push({
            source,
            credentialName: 'EnvironmentCredential (ClientCertificateCredential)',
            describe: `environment: certificate ${certificatePath} of app ${clientId} at ${authorityHost}/${tenantId}`,
            credential: new sdk.ClientCertificateCredential(tenantId as string, clientId as string, {
              certificatePath,
              certificatePassword: env.AZURE_CLIENT_CERTIFICATE_PASSWORD
            }, { ...common, sendCertificateChain: env.AZURE_CLIENT_SEND_CERTIFICATE_CHAIN === 'true' || env.AZURE_CLIENT_SEND_CERTIFICATE_CHAIN === '1' })
          })
        } else {
          links.push({
            source,
            credentialName: 'EnvironmentCredential',
            describe: 'environment (AZURE_CLIENT_SECRET / AZURE_CLIENT_CERTIFICATE_PATH)',
            skipReason: has(secret) || has(certificatePath)
              ? `incomplete: ${missing.join(' and ')} not set`
              : 'not configured: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH) are not set'
          })
        }
        break
      }
      case 'azure:workload-identity': {
        const tokenFile = env.AZURE_FEDERATED_TOKEN_FILE?.trim()
        if (has(tokenFile) && has(clientId) && has(tenantId)) {
          links.push({
            source,
            credentialName: 'WorkloadIdentityCredential',
            describe: `workload identity: app ${clientId} at ${authorityHost}/${tenantId} (token file ${tokenFile})`,
            credential: new sdk.WorkloadIdentityCredential({ ...common, tenantId, clientId, tokenFilePath: tokenFile })
          })
        } else {
          const missing = ['AZURE_FEDERATED_TOKEN_FILE', 'AZURE_CLIENT_ID', 'AZURE_TENANT_ID'].filter((n) => !has(env[n]))
          links.push({
            source,
            credentialName: 'WorkloadIdentityCredential',
            describe: 'workload identity (AKS)',
            skipReason: missing.length === 3 ? 'not configured: AZURE_FEDERATED_TOKEN_FILE is not set (no AKS workload identity)' : `incomplete: ${missing.join(', ')} not set`
          })
        }
        break
      }
      case 'azure:managed-identity':
        links.push(managedIdentityLink(options, clientId))
        break
      case 'azure:cli':
        links.push({
          source,
          credentialName: 'AzureCliCredential',
          describe: 'Azure CLI: az account get-access-token',
          credential: new CliCredential('az', options.children)
        })
        break
      case 'azure:developer-cli':
        links.push({
          source,
          credentialName: 'AzureDeveloperCliCredential',
          describe: 'Azure Developer CLI: azd auth token',
          credential: new CliCredential('azd', options.children)
        })
        break
    }
  }
}

function managedIdentityLink (options: ChainOptions, clientId: string | undefined): ChainLink {
  const { sdk, env, credentialOptions } = options
  const who = has(clientId) ? `user-assigned identity ${clientId}` : 'system-assigned identity'
  let miKind: ChainLink['miKind']
  let where: string
  if (has(env.IDENTITY_ENDPOINT) && has(env.IDENTITY_HEADER) && has(env.IDENTITY_SERVER_THUMBPRINT)) {
    miKind = 'service-fabric'
    where = env.IDENTITY_ENDPOINT
  } else if (has(env.IDENTITY_ENDPOINT) && has(env.IMDS_ENDPOINT)) {
    miKind = 'arc'
    where = env.IDENTITY_ENDPOINT
  } else if (has(env.IDENTITY_ENDPOINT) && has(env.IDENTITY_HEADER)) {
    miKind = 'app-service'
    where = env.IDENTITY_ENDPOINT
  } else if (has(env.MSI_ENDPOINT)) {
    miKind = 'cloud-shell'
    where = env.MSI_ENDPOINT
  } else {
    miKind = 'imds'
    where = has(env.AZURE_POD_IDENTITY_AUTHORITY_HOST) ? env.AZURE_POD_IDENTITY_AUTHORITY_HOST : IMDS_HOST
    // DefaultAzureCredential probes IMDS everywhere; a Linux host whose firmware is not Microsoft's
    // is not an Azure VM, so the probe (up to 1 s, and a packet to a link-local address) is skipped
    const vendor = (options.dmi ?? dmiVendor)()
    if (!has(env.AZURE_POD_IDENTITY_AUTHORITY_HOST) && vendor !== undefined && !/microsoft/i.test(vendor)) {
      return {
        source: 'azure:managed-identity',
        credentialName: 'ManagedIdentityCredential',
        describe: `managed identity: IMDS ${IMDS_HOST}`,
        miKind,
        skipReason: `not on Azure: no IDENTITY_ENDPOINT, and this machine's firmware vendor is "${vendor.slice(0, 40)}", not an Azure VM (IMDS not probed)`
      }
    }
  }
  const label = miKind === 'imds' ? `IMDS ${where}` : `${miKind === 'app-service' ? 'App Service / Container Apps / Functions' : miKind} endpoint ${where}`
  const describe = `managed identity (${who}): ${label}`
  if (miKind === 'app-service' || miKind === 'imds') {
    // the two endpoints nearly every Azure compute uses, spoken directly: MSAL pins the first
    // source it sees (and its HTTP client) for the whole process, and ignores abort
    const credential = miKind === 'app-service'
      ? new ManagedIdentityHttpCredential({ kind: miKind, tokenUrl: where, header: env.IDENTITY_HEADER, clientId, scope: options.scope })
      : new ManagedIdentityHttpCredential({ kind: miKind, tokenUrl: `${where.replace(/\/+$/, '')}${IMDS_TOKEN_PATH}`, clientId, scope: options.scope, probe: !has(env.AZURE_POD_IDENTITY_AUTHORITY_HOST) })
    return { source: 'azure:managed-identity', credentialName: 'ManagedIdentityCredential', describe, miKind, credential }
  }
  // Service Fabric, Azure Arc, Cloud Shell: the SDK's credential
  const credential = new sdk.ManagedIdentityCredential({
    ...credentialOptions,
    ...(has(clientId) ? { clientId } : {}),
    retryOptions: { maxRetries: 0 }
  } as never)
  return { source: 'azure:managed-identity', credentialName: 'ManagedIdentityCredential', describe, miKind, credential }
}

export const IMDS_TOKEN_PATH = '/metadata/identity/oauth2/token'

/** A managed-identity endpoint's error answer (status and the endpoint's own message). */
export class ManagedIdentityEndpointError extends Error {
  constructor (message: string, readonly statusCode: number, readonly retryAfter?: string) {
    super(message)
    this.name = 'ManagedIdentityEndpointError'
  }

  /** shaped like a RestError, so errors.ts reads Retry-After the same way */
  get response (): { headers: { get: (name: string) => string | undefined } } {
    return { headers: { get: (name: string) => name.toLowerCase() === 'retry-after' ? this.retryAfter : undefined } }
  }
}

interface ManagedIdentityInit {
  kind: 'app-service' | 'imds'
  /** full token URL: IDENTITY_ENDPOINT, or IMDS host + /metadata/identity/oauth2/token */
  tokenUrl: string
  header?: string
  clientId?: string
  scope: RequestLifetime
  /** probe IMDS first (1 s, no retry), as DefaultAzureCredential does */
  probe?: boolean
}

/**
 * Managed identity over the App Service protocol (IDENTITY_ENDPOINT + X-IDENTITY-HEADER,
 * api-version 2019-08-01; also Functions and Container Apps) or IMDS (Metadata: true,
 * api-version 2018-02-01). Every request aborts with the deadline or close().
 */
export class ManagedIdentityHttpCredential implements TokenCredential {
  private readonly cache = new Map<string, AccessToken>()
  private probed = false
  constructor (private readonly init: ManagedIdentityInit) {}

  async getToken (scopes: string | string[], options: GetTokenOptions = {}): Promise<AccessToken> {
    const list = Array.isArray(scopes) ? scopes : [scopes]
    if (list.length !== 1) throw new CliUnavailableError('ManagedIdentityCredential: multiple scopes are not supported')
    const resource = list[0].replace(/\/\.default$/, '')
    const cached = this.cache.get(resource)
    if (cached !== undefined && cached.expiresOnTimestamp - Date.now() > 5 * 60_000) return cached
    const { kind, clientId } = this.init
    if (kind === 'imds' && this.init.probe === true && !this.probed) {
      if (!await this.probeImds(options.abortSignal)) throw new CliUnavailableError('ManagedIdentityCredential: Attempted to use the IMDS endpoint, but it is not available.')
      this.probed = true
    }
    const url = new URL(this.init.tokenUrl)
    url.searchParams.set('api-version', kind === 'imds' ? '2018-02-01' : '2019-08-01')
    url.searchParams.set('resource', resource)
    if (clientId !== undefined && clientId !== '') url.searchParams.set('client_id', clientId)
    const headers: Record<string, string> = kind === 'imds' ? { Metadata: 'true' } : { 'X-IDENTITY-HEADER': this.init.header ?? '' }
    const res = await httpGet(url, { ...headers, Accept: 'application/json' }, this.init.scope, options.abortSignal)
    let body: Record<string, unknown> = {}
    try {
      body = JSON.parse(res.body) as Record<string, unknown>
    } catch {}
    if (res.status !== 200) {
      const text = [body.error, body.error_description, body.message].filter((v) => typeof v === 'string').join(': ') || `HTTP ${res.status}`
      throw new ManagedIdentityEndpointError(`${kind === 'imds' ? 'IMDS' : 'managed identity endpoint'} answered HTTP ${res.status}: ${text.slice(0, 300)}`, res.status, res.retryAfter)
    }
    const token = body.access_token
    if (typeof token !== 'string' || token === '') throw new ManagedIdentityEndpointError('the managed identity endpoint answered without access_token', res.status)
    let expires = Number(body.expires_on) * 1000
    if (!Number.isFinite(expires)) expires = new Date(String(body.expires_on)).getTime()
    if (!Number.isFinite(expires) && body.expires_in !== undefined) expires = Date.now() + Number(body.expires_in) * 1000
    if (!Number.isFinite(expires)) expires = Date.now() + 3600_000
    const result: AccessToken = { token, expiresOnTimestamp: expires, tokenType: 'Bearer' }
    this.cache.set(resource, result)
    return result
  }

  /** Any HTTP answer to a request without the Metadata header proves IMDS is there. */
  private async probeImds (signal?: GetTokenOptions['abortSignal']): Promise<boolean> {
    try {
      const res = await httpGet(new URL(this.init.tokenUrl), { Accept: 'application/json' }, this.init.scope, signal, 1000)
      return !(res.status === 403 && res.body.includes('unreachable'))
    } catch {
      return false
    }
  }
}

interface HttpAnswer { status: number, body: string, retryAfter?: string }

/** One GET, no agent keep-alive; aborts (destroying the socket) with `signal`, the deadline or close(). */
function httpGet (url: URL, headers: Record<string, string>, scope: RequestLifetime, signal?: GetTokenOptions['abortSignal'], timeoutMs?: number): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const linked = scope.link(signal)
    const lib = url.protocol === 'https:' ? https : http
    let timer: NodeJS.Timeout | undefined
    const req = lib.request(url, { method: 'GET', headers, agent: false, signal: linked.signal }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { if (body.length < 100_000) body += d })
      res.on('end', () => {
        const retryAfter = res.headers['retry-after']
        finish()
        resolve({ status: res.statusCode ?? 0, body, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter })
      })
      res.on('error', fail)
    })
    function finish (): void {
      clearTimeout(timer)
      linked.release()
    }
    function fail (err: Error): void {
      finish()
      reject(err)
    }
    req.on('error', fail)
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => { req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })) }, timeoutMs)
    }
    req.end()
  })
}

// ---------------------------------------------------------------------------------------------
// Azure CLI / Azure Developer CLI, run by us so a hung CLI can be killed (with its children)

/** Raised by our CLI credentials; the name makes the chain fall through, as DefaultAzureCredential does. */
export class CliUnavailableError extends Error {
  readonly notLoggedIn: boolean
  readonly notInstalled: boolean
  constructor (message: string, flags: { notLoggedIn?: boolean, notInstalled?: boolean } = {}) {
    super(message)
    this.name = 'CredentialUnavailableError'
    this.notLoggedIn = flags.notLoggedIn ?? false
    this.notInstalled = flags.notInstalled ?? false
  }
}

const SAFE_ARG = /^[A-Za-z0-9_.:/-]{1,512}$/

export class CliCredential implements TokenCredential {
  private readonly cache = new Map<string, AccessToken>()
  constructor (readonly tool: 'az' | 'azd', private readonly children: Set<ChildProcess>) {}

  async getToken (scopes: string | string[], options: GetTokenOptions = {}): Promise<AccessToken> {
    const scope = Array.isArray(scopes) ? scopes[0] : scopes
    const tenant = options.tenantId
    if (!SAFE_ARG.test(scope) || (tenant !== undefined && !/^[0-9A-Za-z.-]{1,128}$/.test(tenant))) {
      throw new CliUnavailableError(`${this.tool}: invalid scope or tenant id`)
    }
    const key = `${scope} ${tenant ?? ''}`
    const cached = this.cache.get(key)
    if (cached !== undefined && cached.expiresOnTimestamp - Date.now() > 5 * 60_000) return cached
    const resource = scope.replace(/\/\.default$/, '')
    const args = this.tool === 'az'
      ? ['account', 'get-access-token', '--output', 'json', '--resource', resource, ...(tenant !== undefined ? ['--tenant', tenant] : [])]
      : ['auth', 'token', '--output', 'json', '--no-prompt', '--scope', scope, ...(tenant !== undefined ? ['--tenant-id', tenant] : [])]
    const result = await runCommand(this.tool, args, { children: this.children, signal: options.abortSignal as AbortSignal | undefined })
    const token = this.parse(result)
    this.cache.set(key, token)
    return token
  }

  private parse (result: CommandResult): AccessToken {
    const { tool } = this
    if (result.spawnError !== undefined) {
      if (result.spawnError.code === 'ENOENT') throw new CliUnavailableError(`${tool} is not installed (not found on PATH)`, { notInstalled: true })
      throw new CliUnavailableError(`${tool} could not be started (${result.spawnError.code ?? 'error'})`)
    }
    const stderr = result.stderr.trim()
    if (result.code !== 0) {
      const firstLine = scrubCliText(stderr.split('\n').find((l) => l.trim().length > 0) ?? `exit code ${String(result.code)}`)
      if (/not found|is not recognized/.test(stderr) && result.code === 127) throw new CliUnavailableError(`${tool} is not installed (${firstLine})`, { notInstalled: true })
      if (tool === 'az' ? /az login/.test(stderr) && !/az login --scope/.test(stderr) : /not logged in|azd auth login|azd login/.test(stderr)) {
        throw new CliUnavailableError(`not logged in (${tool}: ${firstLine})`, { notLoggedIn: true })
      }
      throw new CliUnavailableError(`${tool} failed (exit ${String(result.code)}): ${firstLine}`)
    }
    let parsed: Record<string, unknown>
    try {
      parsed = JSON.parse(result.stdout) as Record<string, unknown>
    } catch {
      // never echo the output: it is a token when the format is only slightly off
      throw new CliUnavailableError(`${tool} printed something that is not the expected JSON`)
    }
    const token = tool === 'az' ? parsed.accessToken : parsed.token
    if (typeof token !== 'string' || token.length === 0) throw new CliUnavailableError(`${tool} printed no access token`)
    let expires = Number.parseInt(String(parsed.expires_on), 10) * 1000
    if (Number.isNaN(expires)) expires = new Date(String(parsed.expiresOn)).getTime()
    if (Number.isNaN(expires)) throw new CliUnavailableError(`${tool} printed no valid expiry`)
    return { token, expiresOnTimestamp: expires, tokenType: 'Bearer' }
  }
}

function scrubCliText (text: string): string {
  return text.replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '[token]').slice(0, 300)
}

// ---------------------------------------------------------------------------------------------
// The chain

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
        if (result === null) throw new CliUnavailableError(`${link.credentialName} returned no token`)
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

export interface ResolvedIdentity {
  identity: Identity
  link: ChainLink
}

/** Builds the identity report from the token's claims (never from the token itself). */
export function identityReport (link: ChainLink, token: AccessToken, env: Env): Identity {
  const claims = decodeTokenClaims(token.token)
  const kind = link.source === 'azure:managed-identity' ? managedIdentityKind(claims.xms_mirid) ?? (has(env.AZURE_CLIENT_ID) ? 'user-assigned' : 'system-assigned') : undefined
  const expiresAt = Number.isFinite(token.expiresOnTimestamp) ? new Date(token.expiresOnTimestamp).toISOString() : undefined
  return {
    provider: 'azure',
    platform: detectPlatform(env, link.source === 'azure:managed-identity' && link.miKind === 'imds'),
    source: link.source,
    principal: claims.oid ?? claims.appid ?? claims.azp,
    tenant: claims.tid,
    expiresAt,
    details: {
      credential: link.credentialName,
      objectId: claims.oid,
      appId: claims.appid ?? claims.azp,
      principalType: claims.idtyp === 'user' || claims.upn !== undefined ? 'User' : 'ServicePrincipal',
      managedIdentity: kind,
      managedIdentityResourceId: claims.xms_mirid,
      managedIdentityEndpoint: link.source === 'azure:managed-identity' ? link.miKind : undefined,
      user: claims.upn ?? claims.unique_name
    }
  }
}
