import type { ChildProcess } from 'node:child_process'
import { runCommand } from '../../shared/child-process.js'
import { nonEmpty } from '../../shared/env.js'
import { readFile } from 'node:fs/promises'
import http from 'node:http'
import https from 'node:https'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type * as Gax from 'google-gax'
import { CloudSecretsError, isDeadlineError, configError, type CredentialAttempt } from '../../errors.js'
import type { Env } from '../../options.js'
import { networkErrorCode } from '../../retry.js'
import type { Identity, Logger } from '../../types.js'
import type { StepContext } from '../types.js'
import { classifyTokenError, LOGIN_FIX, safeText, sanitizeCause, tokenFix as tokenFixFor } from './errors.js'
import { jwtExpiryMs, stringClaim } from '../../shared/jwt.js'
import { RequestLifetime } from '../../shared/request-lifetime.js'

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform'
const DEFAULT_METADATA_HOST = '169.254.169.254'
const SECRET_MANAGER_HOST = 'secretmanager.googleapis.com'
/** how long the metadata-server probe may take when no platform marker says we are on Google Cloud */
const METADATA_PING_MS = 3000
/** bound on the best-effort tokeninfo lookup of a gcloud user's email */
const TOKENINFO_MS = 1500

export type GcpSource = 'gcp:service-account-key' | 'gcp:authorized-user' | 'gcp:external-account' | 'gcp:impersonated-service-account' | 'gcp:metadata'

type GaxModule = typeof Gax
type AuthClient = Gax.googleAuthLibrary.AuthClient
type Gaxios = Gax.googleAuthLibrary.gaxios.Gaxios
type GaxiosOptions = Gax.googleAuthLibrary.gaxios.GaxiosOptions
type GaxiosPromise<T> = Gax.googleAuthLibrary.gaxios.GaxiosPromise<T>
export type GoogleAuth = Gax.GoogleAuth

/** A parsed credential file. Holds private keys / refresh tokens: never log or report it. */
export interface CredentialJson {
  type?: string
  project_id?: string
  client_email?: string
  private_key_id?: string
  audience?: string
  token_url?: string
  service_account_impersonation_url?: string
  credential_source?: { file?: string, url?: string, executable?: unknown, environment_id?: string }
  [key: string]: unknown
}

export type FoundCredential =
  | { kind: 'file', source: Exclude<GcpSource, 'gcp:metadata'>, file: string, via: string, json: CredentialJson }
  | { kind: 'metadata', source: 'gcp:metadata', baseUrl: string, detectedBy: string }

/**
 * The HTTP side of every token request the provider makes (oauth2, STS, IAM credentials,
 * metadata): our own agents, and every request tied to the provider's RequestLifetime, so close()
 * ends whatever is in flight and the process can exit; and no gaxios retries, because the plugin
 * owns retry (ctx.retry).
 */
export interface AuthTransport {
  transporter: Gaxios
  close: () => void
}

export function createAuthTransport (gax: GaxModule, lifetime = new RequestLifetime('fastify-cloud-secrets: the gcp provider')): AuthTransport {
  const httpAgent = new http.Agent({ keepAlive: true })
  const httpsAgent = new https.Agent({ keepAlive: true })
  const transporter = new gax.googleAuthLibrary.gaxios.Gaxios({
    agent: (url: URL) => url.protocol === 'http:' ? httpAgent : httpsAgent
  } as unknown as GaxiosOptions)
  transporter.interceptors.request.add({
    resolved: async (config) => {
      config.retry = false
      config.retryConfig = { ...config.retryConfig, retry: 0, noResponseRetries: 0 }
      // gaxios has no per-request "done" hook to release a link(): a request's own signal is
      // combined with the lifetime's (token requests are few; nothing accumulates on a shared signal)
      config.signal = config.signal === undefined ? lifetime.signal : AbortSignal.any([config.signal as AbortSignal, lifetime.signal])
      return config
    }
  })
  return {
    transporter,
    close: () => {
      lifetime.close()
      httpAgent.destroy()
      httpsAgent.destroy()
    }
  }
}

/**
 * The metadata-server credential (Cloud Run, GKE Workload Identity, GCE, App Engine, Cloud
 * Functions), as an AuthClient that GoogleAuth and every Google client library accept. It goes
 * through our transport (abortable, no hidden retries) instead of gcp-metadata's module-level
 * requests, which wait forever on a silent metadata server when K_SERVICE is set.
 */
export interface MetadataCredential extends AuthClient {
  readonly baseUrl: string
  readonly expiresAt?: number
  metadata: (path: string) => Promise<string>
  tokenForScopes: (scopes: readonly string[]) => Promise<{ token: string, expiresAt: number }>
}

export function createMetadataCredential (gax: GaxModule, transporter: Gaxios, baseUrl: string): MetadataCredential {
  class GcpMetadataCredential extends gax.googleAuthLibrary.AuthClient implements MetadataCredential {
    readonly baseUrl = baseUrl
    expiresAt?: number
    #token?: string
    #pending?: Promise<{ token: string, expiresAt: number }>

    constructor () {
      super({ transporter })
    }

    async metadata (path: string): Promise<string> {
      const res = await this.transporter.request<string>({
        url: `${this.baseUrl}/computeMetadata/v1/${path}`,
        headers: { 'Metadata-Flavor': 'Google' },
        responseType: 'text'
      })
      if (res.headers.get('metadata-flavor') !== 'Google') {
        throw Object.assign(new Error(`${this.baseUrl} answered without the Metadata-Flavor: Google header (not a metadata server)`), { status: res.status })
      }
      return String(res.data).trim()
    }

    async tokenForScopes (scopes: readonly string[]): Promise<{ token: string, expiresAt: number }> {
      const query = scopes.length > 0 ? `?scopes=${encodeURIComponent(scopes.join(','))}` : ''
      const body = JSON.parse(await this.metadata(`instance/service-accounts/default/token${query}`)) as { access_token?: unknown, expires_in?: unknown }
      if (typeof body.access_token !== 'string') throw new Error('the metadata server answered without an access_token')
      return { token: body.access_token, expiresAt: Date.now() + (typeof body.expires_in === 'number' ? body.expires_in : 300) * 1000 }
    }

    async getAccessToken (): Promise<{ token: string, res: null }> {
      // refresh 5 minutes early, like google-auth-library's clients
      if (this.#token !== undefined && (this.expiresAt ?? 0) - 300_000 > Date.now()) return { token: this.#token, res: null }
      this.#pending ??= this.tokenForScopes([]).finally(() => { this.#pending = undefined })
      const fresh = await this.#pending
      this.#token = fresh.token
      this.expiresAt = fresh.expiresAt
      return { token: fresh.token, res: null }
    }

    async getRequestHeaders (): Promise<Headers> {
      const { token } = await this.getAccessToken()
      return this.addSharedMetadataHeaders(new Headers({ authorization: `Bearer ${token}` }))
    }

    async request<T> (options: GaxiosOptions): GaxiosPromise<T> {
      const headers = new Headers(options.headers as ConstructorParameters<typeof Headers>[0])
      for (const [key, value] of await this.getRequestHeaders()) headers.set(key, value)
      return await this.transporter.request<T>({ ...options, headers })
    }
  }
  return new GcpMetadataCredential()
}

const FILE_SOURCES: Readonly<Record<string, Exclude<GcpSource, 'gcp:metadata'>>> = {
  service_account: 'gcp:service-account-key',
  authorized_user: 'gcp:authorized-user',
  external_account: 'gcp:external-account',
  external_account_authorized_user: 'gcp:external-account',
  impersonated_service_account: 'gcp:impersonated-service-account'
}

/** Where `gcloud auth application-default login` writes its credentials. */
export function wellKnownCredentialFile (env: Env): string {
  const configDir = env.CLOUDSDK_CONFIG !== undefined && env.CLOUDSDK_CONFIG !== ''
    ? env.CLOUDSDK_CONFIG
    : process.platform === 'win32'
      ? join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'gcloud')
      : join(env.HOME ?? homedir(), '.config', 'gcloud')
  return join(configDir, 'application_default_credentials.json')
}

type FileRead = { ok: true, json: CredentialJson, source: Exclude<GcpSource, 'gcp:metadata'> } | { ok: false, missing: boolean, reason: string }

async function readCredentialFile (file: string): Promise<FileRead> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error'
    return { ok: false, missing: code === 'ENOENT', reason: `cannot read ${file} (${code})` }
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    // never quote the parse error: it shows the file's text (a private key or refresh token)
    return { ok: false, missing: false, reason: `${file} is not valid JSON` }
  }
  const type = (json as CredentialJson | null)?.type
  const source = typeof type === 'string' ? FILE_SOURCES[type] : undefined
  if (source === undefined) {
    return { ok: false, missing: false, reason: `${file} has credential type ${JSON.stringify(safeText(type ?? 'none'))}; expected one of ${Object.keys(FILE_SOURCES).join(', ')}` }
  }
  return { ok: true, json: json as CredentialJson, source }
}

const SERVERLESS_MARKERS = ['K_SERVICE', 'CLOUD_RUN_JOB', 'FUNCTION_NAME', 'FUNCTION_TARGET', 'GAE_SERVICE'] as const

export function metadataBaseUrl (env: Env): string {
  const host = env.GCE_METADATA_HOST ?? env.GCE_METADATA_IP ?? DEFAULT_METADATA_HOST
  return /^https?:\/\//.test(host) ? host.replace(/\/+$/, '') : `http://${host}`
}

export interface FindCredentialDeps {
  env: Env
  gax: GaxModule
  transporter: Gaxios
  attempts: CredentialAttempt[]
}

/**
 * Application Default Credentials, in google-auth-library's order, detected once:
 * GOOGLE_APPLICATION_CREDENTIALS → gcloud's application-default file → the metadata server.
 */
export async function findCredential (deps: FindCredentialDeps, ctx: StepContext): Promise<FoundCredential> {
  const { env, attempts } = deps
  const noCredentials = (summary: string, fix = LOGIN_FIX): CloudSecretsError =>
    new CloudSecretsError('NO_CREDENTIALS', `${summary}\nCredential sources tried:\n${attempts.map((a) => `  - ${a.source}: ${a.outcome} (${a.reason})`).join('\n')}`, { provider: 'gcp', attempts: [...attempts], fix })

  const explicit = env.GOOGLE_APPLICATION_CREDENTIALS
  if (explicit !== undefined && explicit !== '') {
    const read = await readCredentialFile(explicit)
    if (!read.ok) {
      attempts.push({ source: 'GOOGLE_APPLICATION_CREDENTIALS', outcome: 'failed', reason: read.reason })
      // like google-auth-library: a set but unusable GOOGLE_APPLICATION_CREDENTIALS is an error, not a fall-through
      throw noCredentials(`GOOGLE_APPLICATION_CREDENTIALS is set but unusable: ${read.reason}`, 'point GOOGLE_APPLICATION_CREDENTIALS at a readable service-account key or workload identity federation configuration file, or unset it to use gcloud\'s login or the metadata server')
    }
    attempts.push({ source: 'GOOGLE_APPLICATION_CREDENTIALS', outcome: 'ok', reason: `${read.json.type ?? ''} credentials in ${explicit}` })
    return { kind: 'file', source: read.source, file: explicit, via: 'GOOGLE_APPLICATION_CREDENTIALS', json: read.json }
  }
  attempts.push({ source: 'GOOGLE_APPLICATION_CREDENTIALS', outcome: 'skipped', reason: 'not set' })

  const wellKnown = wellKnownCredentialFile(env)
  const read = await readCredentialFile(wellKnown)
  if (read.ok) {
    attempts.push({ source: 'gcloud application-default credentials', outcome: 'ok', reason: `${read.json.type ?? ''} credentials in ${wellKnown}` })
    return { kind: 'file', source: read.source, file: wellKnown, via: 'gcloud application-default credentials file', json: read.json }
  }
  if (!read.missing) {
    attempts.push({ source: 'gcloud application-default credentials', outcome: 'failed', reason: read.reason })
    throw noCredentials(`the gcloud application-default credentials file is unusable: ${read.reason}`, 'run `gcloud auth application-default login` again (or delete the file)')
  }
  attempts.push({ source: 'gcloud application-default credentials', outcome: 'skipped', reason: `no file at ${wellKnown}` })

  const baseUrl = metadataBaseUrl(env)
  const marker = SERVERLESS_MARKERS.find((name) => env[name] !== undefined && env[name] !== '')
  if (marker !== undefined) {
    attempts.push({ source: 'metadata server', outcome: 'ok', reason: `${marker} is set: using ${baseUrl}` })
    return { kind: 'metadata', source: 'gcp:metadata', baseUrl, detectedBy: `${marker} is set` }
  }
  const residency = deps.gax.googleAuthLibrary.gcpMetadata.isGoogleComputeEngine()
  if (residency) {
    attempts.push({ source: 'metadata server', outcome: 'ok', reason: `Google Compute Engine BIOS / MAC address: using ${baseUrl}` })
    return { kind: 'metadata', source: 'gcp:metadata', baseUrl, detectedBy: 'Google Compute Engine BIOS / MAC address' }
  }
  const mode = (env.METADATA_SERVER_DETECTION ?? '').trim().toLowerCase()
  switch (mode) {
    case 'assume-present':
      attempts.push({ source: 'metadata server', outcome: 'ok', reason: `METADATA_SERVER_DETECTION=assume-present: using ${baseUrl}` })
      return { kind: 'metadata', source: 'gcp:metadata', baseUrl, detectedBy: 'METADATA_SERVER_DETECTION=assume-present' }
    case 'none':
    case 'bios-only':
      attempts.push({ source: 'metadata server', outcome: 'skipped', reason: mode === 'none' ? 'METADATA_SERVER_DETECTION=none' : 'METADATA_SERVER_DETECTION=bios-only and no Google BIOS' })
      break
    case '':
    case 'ping-only': {
      const reason = await pingMetadata(deps, baseUrl, ctx)
      if (reason === undefined) {
        attempts.push({ source: 'metadata server', outcome: 'ok', reason: `${baseUrl} answered` })
        return { kind: 'metadata', source: 'gcp:metadata', baseUrl, detectedBy: `${baseUrl} answered` }
      }
      attempts.push({ source: 'metadata server', outcome: 'failed', reason })
      break
    }
    default:
      throw configError([{ source: 'METADATA_SERVER_DETECTION', message: `"${safeText(mode)}" is not one of none, assume-present, bios-only, ping-only` }])
  }
  throw noCredentials('no Google Cloud credentials were found (Application Default Credentials)')
}

/** One bounded probe of the metadata server; undefined when it answered as one. */
async function pingMetadata (deps: FindCredentialDeps, baseUrl: string, ctx: StepContext): Promise<string | undefined> {
  const bound = Math.min(METADATA_PING_MS, ctx.deadline.remaining())
  try {
    await ctx.deadline.run(`identity: metadata server probe ${baseUrl}`, async (signal) => {
      const res = await deps.transporter.request<string>({
        url: `${baseUrl}/computeMetadata/v1/instance`,
        headers: { 'Metadata-Flavor': 'Google' },
        responseType: 'text',
        timeout: bound,
        signal
      })
      if (res.headers.get('metadata-flavor') !== 'Google') throw new Error('the answer has no Metadata-Flavor: Google header')
    })
    return undefined
  } catch (err) {
    if (isDeadlineError(err)) throw err
    const name = (err as Error).name
    return name === 'AbortError' || name === 'TimeoutError' || /aborted|timeout/i.test((err as Error).message)
      ? `no answer from ${baseUrl} within ${bound} ms`
      : `${baseUrl} did not answer as a metadata server: ${safeText(err)}`
  }
}

/** The runtime platform, from the env markers Google's runtimes set and the metadata server. */
export function detectPlatform (env: Env, onMetadata: boolean): { platform: string, details: Record<string, string | undefined> } {
  if (nonEmpty(env.FUNCTION_TARGET) || nonEmpty(env.FUNCTION_NAME)) {
    return { platform: 'functions', details: { function: env.FUNCTION_TARGET ?? env.FUNCTION_NAME, service: env.K_SERVICE } }
  }
  if (nonEmpty(env.K_SERVICE)) return { platform: 'cloud-run', details: { service: env.K_SERVICE, revision: env.K_REVISION } }
  if (nonEmpty(env.CLOUD_RUN_JOB)) return { platform: 'cloud-run', details: { job: env.CLOUD_RUN_JOB, execution: env.CLOUD_RUN_EXECUTION } }
  if (nonEmpty(env.GAE_SERVICE)) return { platform: 'app-engine', details: { service: env.GAE_SERVICE, version: env.GAE_VERSION } }
  if (nonEmpty(env.KUBERNETES_SERVICE_HOST)) return { platform: onMetadata ? 'gke' : 'kubernetes', details: {} }
  if (onMetadata) return { platform: 'gce', details: {} }
  return { platform: 'local', details: {} }
}

export interface ResolvedGcp {
  identity: Identity
  auth: GoogleAuth
  authClient: AuthClient
  credential: FoundCredential
  projectId?: string
}

export interface ResolveDeps {
  env: Env
  gax: GaxModule
  transport: AuthTransport
  /** config.gcp.projectId (option or GOOGLE_CLOUD_PROJECT / GCLOUD_PROJECT / GCP_PROJECT) */
  configuredProject?: string
  log: Logger
  attempts: CredentialAttempt[]
  /** child processes started (gcloud), so close() can end them */
  children: Set<ChildProcess>
  /** called with the shared GoogleAuth before any token is requested, so clients built on it (Secret Manager) configure it first */
  onAuth: (auth: GoogleAuth, projectId: string | undefined) => void
}

/**
 * Finds the credential, builds the one GoogleAuth shared by every client, proves it yields a
 * token, and reports who we are (source, principal, project, platform, token expiry).
 */
export async function resolveGcpIdentity (deps: ResolveDeps, ctx: StepContext): Promise<ResolvedGcp> {
  const { env, gax, transport } = deps
  const credential = await findCredential({ env, gax, transporter: transport.transporter, attempts: deps.attempts }, ctx)
  const metadataCredential = credential.kind === 'metadata' ? createMetadataCredential(gax, transport.transporter, credential.baseUrl) : undefined

  const project = await resolveProjectId(deps, credential, metadataCredential, ctx)
  const auth = new gax.GoogleAuth({
    scopes: [CLOUD_PLATFORM_SCOPE],
    projectId: project?.id,
    ...(credential.kind === 'file' ? { credentials: credential.json as never } : { authClient: metadataCredential }),
    clientOptions: { transporter: transport.transporter }
  })
  deps.onAuth(auth, project?.id)
  const authClient = await auth.getClient()

  const subject = credential.kind === 'file' && credential.source === 'gcp:external-account' ? await readSubjectClaim(credential.json) : undefined
  const describe = describeCredential(credential, subject)
  const tokenStep = credential.kind === 'metadata'
    ? `identity: metadata server ${credential.baseUrl} (service-accounts/default/token)`
    : `identity: ${describe.tokenStep} (${credential.file})`
  const principalFromMetadata = metadataCredential === undefined
    ? Promise.resolve(undefined)
    : ctx.retry(`identity: metadata server ${metadataCredential.baseUrl} (service-accounts/default/email)`, async () => await metadataCredential.metadata('instance/service-accounts/default/email'),
      (err) => classifyTokenError(err, { what: 'the metadata server\'s service account', source: 'gcp:metadata', endpoint: endpointOf(err, `${metadataCredential.baseUrl}/computeMetadata/v1/instance/service-accounts/default/email`) }))
  const selfSigned = credential.source === 'gcp:service-account-key'
  const [selfSignedExpiry, metadataEmail] = await Promise.all([
    ctx.retry(tokenStep, async () => {
      if (!selfSigned) {
        await authClient.getAccessToken()
        return undefined
      }
      // a key signs its own JWTs (what the Secret Manager client sends): proving the key needs
      // no token endpoint; Secret Manager then verifies the signature on the first call
      const headers = await authClient.getRequestHeaders(`https://${SECRET_MANAGER_HOST}/`)
      return jwtExpiry(headers.get('authorization'))
    }, (err) => selfSigned && networkErrorCode(err) === undefined
      ? new CloudSecretsError('TOKEN', `the service-account key ${credential.kind === 'file' ? credential.file : ''} cannot sign a JWT: ${safeText(err)}`, { provider: 'gcp', principal: describe.principal, cause: sanitizeCause(err), fix: tokenFixFor(credential.source) })
      : classifyTokenError(err, {
        what: describe.what,
        source: credential.source,
        principal: describe.principal,
        endpoint: endpointOf(err, describe.endpoint)
      })),
    principalFromMetadata
  ])
  const winner = deps.attempts.findIndex((a) => a.outcome === 'ok')
  if (winner !== -1) deps.attempts[winner] = { ...deps.attempts[winner], reason: `${deps.attempts[winner].reason}; ${selfSigned ? 'self-signed JWT' : 'token'} obtained` }

  let principal = describe.principal ?? metadataEmail
  if (credential.source === 'gcp:authorized-user') principal = await userEmail(authClient, ctx, deps.log)

  const expiry = selfSignedExpiry ?? metadataCredential?.expiresAt ?? (authClient as { credentials?: { expiry_date?: number | null } }).credentials?.expiry_date ?? undefined
  const { platform, details } = detectPlatform(env, credential.kind === 'metadata')
  const identity: Identity = {
    provider: 'gcp',
    platform,
    source: credential.source,
    principal,
    project: project?.id,
    expiresAt: typeof expiry === 'number' && expiry > 0 ? new Date(expiry).toISOString() : undefined,
    details: {
      ...details,
      credentialFile: credential.kind === 'file' ? credential.file : undefined,
      credentialFrom: credential.kind === 'file' ? credential.via : credential.detectedBy,
      metadataServer: credential.kind === 'metadata' ? credential.baseUrl : undefined,
      projectFrom: project?.from,
      federatedPrincipal: describe.federatedPrincipal,
      impersonated: describe.impersonated ? true : undefined
    }
  }
  return { identity, auth, authClient, credential, projectId: project?.id }
}

interface CredentialDescription {
  /** the principal known from the file alone */
  principal?: string
  federatedPrincipal?: string
  impersonated: boolean
  /** for messages: "service-account key /k.json (app@…)" */
  what: string
  tokenStep: string
  endpoint: string
}

function describeCredential (credential: FoundCredential, subject: string | undefined): CredentialDescription {
  if (credential.kind === 'metadata') {
    return { what: `the metadata server's service account (${credential.baseUrl})`, tokenStep: 'metadata token', endpoint: `${credential.baseUrl}/computeMetadata/v1/instance/service-accounts/default/token`, impersonated: false }
  }
  const { json, file } = credential
  const impersonationTarget = typeof json.service_account_impersonation_url === 'string'
    ? /\/serviceAccounts\/([^/:]+):generateAccessToken$/.exec(json.service_account_impersonation_url)?.[1]
    : undefined
  const target = impersonationTarget !== undefined ? decodeURIComponent(impersonationTarget) : undefined
  switch (credential.source) {
    case 'gcp:service-account-key':
      return { principal: json.client_email, what: `service-account key ${file} (${json.client_email ?? 'no client_email'})`, tokenStep: `self-signed JWT for ${json.client_email ?? 'service account'}`, endpoint: 'https://oauth2.googleapis.com/token', impersonated: false }
    case 'gcp:authorized-user':
      return { what: `the gcloud application-default login in ${file}`, tokenStep: 'token refresh at oauth2.googleapis.com', endpoint: 'https://oauth2.googleapis.com/token', impersonated: false }
    case 'gcp:impersonated-service-account':
      return { principal: target, what: `impersonation of ${target ?? 'a service account'} configured in ${file}`, tokenStep: `token for ${target ?? 'service account'} from iamcredentials.googleapis.com`, endpoint: json.service_account_impersonation_url ?? 'https://iamcredentials.googleapis.com', impersonated: true }
    case 'gcp:external-account': {
      const federated = federatedPrincipal(json, subject)
      const sts = typeof json.token_url === 'string' ? json.token_url : 'https://sts.googleapis.com/v1/token'
      return {
        principal: target ?? federated,
        federatedPrincipal: federated,
        impersonated: target !== undefined,
        what: target !== undefined ? `workload identity federation (${file}) impersonating ${target}` : `workload identity federation (${file})`,
        tokenStep: `token exchange at ${hostOf(sts)}${target !== undefined ? ` + impersonation of ${target}` : ''}`,
        endpoint: sts
      }
    }
  }
}

/** principal://iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/POOL/subject/SUB, from the audience and the subject token's `sub`. */
function federatedPrincipal (json: CredentialJson, subject: string | undefined): string | undefined {
  const pool = typeof json.audience === 'string' ? /^\/\/iam\.googleapis\.com\/(projects\/[^/]+\/locations\/[^/]+\/workloadIdentityPools\/[^/]+)\//.exec(json.audience)?.[1] : undefined
  return pool === undefined ? undefined : `principal://iam.googleapis.com/${pool}/subject/${subject ?? 'SUBJECT'}`
}

/** The `sub` claim of a file-sourced OIDC subject token (decoded, not verified: for reporting only). */
export async function readSubjectClaim (json: CredentialJson): Promise<string | undefined> {
  const source = json.credential_source
  if (typeof source?.file !== 'string') return undefined
  try {
    const text = (await readFile(source.file, 'utf8')).trim()
    const field = (source as { format?: { type?: string, subject_token_field_name?: string } }).format
    const token = field?.type === 'json' ? String((JSON.parse(text) as Record<string, unknown>)[field.subject_token_field_name ?? ''] ?? '') : text
    const sub = stringClaim(token, 'sub')
    return sub !== undefined && /^[\x21-\x7e]{1,256}$/.test(sub) ? sub : undefined
  } catch {
    return undefined
  }
}

/** The `exp` of a bearer JWT, in ms (decoded, not verified); the token itself is not kept. */
function jwtExpiry (authorization: string | null): number | undefined {
  return jwtExpiryMs(authorization?.replace(/^Bearer /, ''))
}

function hostOf (url: string): string {
  try { return new URL(url).host } catch { return url }
}

/** The URL a gaxios error was about (token endpoints and metadata URLs hold no secrets), without its query. */
function endpointOf (err: unknown, fallback: string): string {
  const url = (err as { config?: { url?: unknown } } | undefined)?.config?.url
  if (url === undefined || url === null) return fallback
  try {
    const u = new URL(String(url))
    return `${u.origin}${u.pathname}`
  } catch {
    return fallback
  }
}

/** The email of a gcloud user login, from tokeninfo; best effort and briefly bounded (used for the IAM member in fixes). */
async function userEmail (client: AuthClient, ctx: StepContext, log: Logger): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined
  try {
    const lookup = ctx.deadline.run('identity: tokeninfo at oauth2.googleapis.com (gcloud user email)', async () => {
      const { token } = await client.getAccessToken()
      const info = await (client as unknown as { getTokenInfo: (t: string) => Promise<{ email?: string }> }).getTokenInfo(token ?? '')
      return info.email
    })
    const bound = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), Math.min(TOKENINFO_MS, ctx.deadline.remaining())) })
    return await Promise.race([lookup, bound])
  } catch (err) {
    if (isDeadlineError(err)) throw err
    log.debug({ err: { message: sanitizeCause(err).message } }, 'the gcloud user email is unknown (tokeninfo failed)')
    return undefined
  } finally {
    clearTimeout(timer)
  }
}

/**
 * The default project: config (option / GOOGLE_CLOUD_PROJECT / GCLOUD_PROJECT / GCP_PROJECT) →
 * the key file's project_id → the metadata server → gcloud's configured project. The last two
 * are slow and are logged at warn with the setting that skips them.
 */
async function resolveProjectId (deps: ResolveDeps, credential: FoundCredential, metadata: MetadataCredential | undefined, ctx: StepContext): Promise<{ id: string, from: string } | undefined> {
  if (deps.configuredProject !== undefined) return { id: deps.configuredProject, from: 'configuration' }
  if (credential.kind === 'file') {
    if (typeof credential.json.project_id === 'string' && credential.json.project_id !== '') return { id: credential.json.project_id, from: `project_id of ${credential.file}` }
  }
  let found: { id: string, from: string } | undefined
  if (metadata !== undefined) {
    const id = await ctx.retry(`identity: metadata server ${metadata.baseUrl} (project/project-id)`, async () => await metadata.metadata('project/project-id'),
      (err) => classifyTokenError(err, { what: 'the project id', source: 'gcp:metadata', endpoint: endpointOf(err, `${metadata.baseUrl}/computeMetadata/v1/project/project-id`) }))
    if (id !== '') found = { id, from: `metadata server ${metadata.baseUrl}` }
  }
  found ??= await gcloudProject(deps, ctx)
  if (found !== undefined) {
    deps.log.warn({ projectId: found.id, from: found.from }, 'the GCP project id was looked up through %s (slow); set GOOGLE_CLOUD_PROJECT=%s to skip the lookup', found.from, found.id)
  } else {
    deps.log.debug('no default GCP project (set GOOGLE_CLOUD_PROJECT); short secret ids cannot be used')
  }
  return found
}

/** `gcloud config config-helper --format json` (what google-auth-library runs), bounded and killable. */
async function gcloudProject (deps: ResolveDeps, ctx: StepContext): Promise<{ id: string, from: string } | undefined> {
  try {
    // the same process-group kill as Azure's az: a hung gcloud (and what it started) dies at the deadline
    const result = await ctx.deadline.run('identity: project id from `gcloud config config-helper`', async (signal) =>
      await runCommand('gcloud', ['config', 'config-helper', '--format', 'json'], { children: deps.children, signal, env: deps.env }))
    if (result.spawnError !== undefined || result.code !== 0) return undefined
    const stdout = result.stdout
    const id = (JSON.parse(stdout) as { configuration?: { properties?: { core?: { project?: unknown } } } }).configuration?.properties?.core?.project
    return typeof id === 'string' && id !== '' ? { id, from: 'gcloud config' } : undefined
  } catch (err) {
    if (isDeadlineError(err)) throw err
    return undefined
  }
}

/**
 * Acquires a token for each extra scope (CLOUD_SECRETS_CHECK_SCOPES) with the app's credential:
 * the metadata server's ?scopes=, a scoped copy of a file credential, or, for a gcloud user
 * login (whose refresh token has fixed scopes), tokeninfo's list of granted scopes.
 */
export async function checkGcpScopes (scopes: readonly string[], ctx: StepContext, resolved: ResolvedGcp, gax: GaxModule, transport: AuthTransport): Promise<void> {
  const { credential, authClient, identity } = resolved
  const results = await Promise.allSettled(scopes.map(async (scope) => {
    const classify = (err: unknown): CloudSecretsError => classifyTokenError(err, {
      what: `scope ${scope} for ${identity.principal ?? credential.source}`,
      source: credential.source,
      principal: identity.principal,
      endpoint: endpointOf(err, credential.kind === 'metadata' ? `${credential.baseUrl}/computeMetadata/v1/instance/service-accounts/default/token` : 'the token endpoint')
    })
    await ctx.retry(`token scope ${scope} (${credential.source})`, async () => {
      if (credential.kind === 'metadata') {
        await (authClient as MetadataCredential).tokenForScopes([scope])
      } else if (credential.source === 'gcp:authorized-user') {
        const { token } = await authClient.getAccessToken()
        const info = await (authClient as unknown as { getTokenInfo: (t: string) => Promise<{ scopes?: string[] }> }).getTokenInfo(token ?? '')
        if (!(info.scopes ?? []).includes(scope)) {
          throw new CloudSecretsError('TOKEN', `the gcloud application-default login was not granted scope ${scope}`, {
            provider: 'gcp',
            principal: identity.principal,
            fix: `log in again with it: gcloud auth application-default login --scopes=openid,https://www.googleapis.com/auth/userinfo.email,${CLOUD_PLATFORM_SCOPE},${scope}`
          })
        }
      } else {
        const scoped = new gax.GoogleAuth({ credentials: credential.json as never, scopes: [scope], clientOptions: { transporter: transport.transporter } })
        await (await scoped.getClient()).getAccessToken()
      }
    }, classify)
  }))
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown)
  if (failures.length === 0) return
  const timeout = failures.find((e) => isDeadlineError(e))
  if (timeout !== undefined || failures.length === 1) throw timeout ?? failures[0]
  throw new CloudSecretsError('CHECK_FAILED', `no token for ${failures.length} scopes:\n${failures.map((e) => `  - ${(e as CloudSecretsError).summary ?? safeText(e)}`).join('\n')}`, {
    provider: 'gcp',
    principal: identity.principal,
    errors: failures.filter((e): e is CloudSecretsError => e instanceof CloudSecretsError),
    fix: (failures[0] as CloudSecretsError).fix ?? tokenFixFor(credential.source)
  })
}
