import { AsyncLocalStorage } from 'node:async_hooks'
import { subscribe } from 'node:diagnostics_channel'
import { readFileSync } from 'node:fs'
import type { ClientRequest } from 'node:http'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type * as CredentialProviders from '@aws-sdk/credential-providers'
import { CloudSecretsError, type CredentialAttempt } from '../../errors.js'
import { networkErrorCode } from '../../retry.js'
import type { Env } from '../../options.js'
import type { Logger } from '../../types.js'
import type { StepContext } from '../types.js'
import { ProcessCredentialSource } from './process-source.js'
import { ACCESS_DENIED_NAMES, errorName, noCredentials, safeCause, SERVER_NAMES, THROTTLE_NAMES, TOKEN_NAMES, tokenFix } from './errors.js'

/** The credential provider function the SDK's chain returns (what SDK clients take as `credentials`). */
export type AwsCredentialsProvider = ReturnType<typeof CredentialProviders.fromNodeProviderChain>
export type AwsCredentials = Awaited<ReturnType<AwsCredentialsProvider>>

export type AwsSource = 'aws:env' | 'aws:sso' | 'aws:profile' | 'aws:process' | 'aws:web-identity' | 'aws:container' | 'aws:imds'

/** The SDK's default chain, in its order. */
export const CHAIN_ORDER: readonly AwsSource[] = ['aws:env', 'aws:sso', 'aws:profile', 'aws:process', 'aws:web-identity', 'aws:container', 'aws:imds']

// ---------------------------------------------------------------------------------------------
// What the environment and the shared config files say (no network): which source can apply.

export type ProfileKind = 'sso' | 'role' | 'static' | 'web-identity' | 'process' | 'login' | 'empty'

export interface ProfileInfo {
  name: string
  /** AWS_PROFILE was set (rather than the implicit "default") */
  explicit: boolean
  found: boolean
  kind?: ProfileKind
  /** the files that were read */
  files: string[]
  region?: string
  /** the profile's credential_process command line (run by the plugin, never logged) */
  credentialProcess?: string
}

type Sections = Map<string, Record<string, string>>

/** A small INI reader, enough to classify a profile the way the SDK's fromIni does. */
export function parseIni (text: string): Sections {
  const sections: Sections = new Map()
  let current: Record<string, string> | undefined
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s*[#;].*$/, '')
    const header = /^\s*\[([^\]]+)\]\s*$/.exec(line)
    if (header !== null) {
      const name = header[1].trim().replace(/\s+/g, ' ')
      current = sections.get(name) ?? {}
      sections.set(name, current)
      continue
    }
    // indented lines are sub-settings (e.g. `s3 =` blocks): not credentials
    if (current === undefined || /^\s/.test(line)) continue
    const eq = line.indexOf('=')
    if (eq === -1) continue
    current[line.slice(0, eq).trim().toLowerCase()] = line.slice(eq + 1).trim()
  }
  return sections
}

function readText (file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

export function configFiles (env: Env): { config: string, credentials: string } {
  const home = env.HOME ?? env.USERPROFILE ?? homedir()
  return {
    config: env.AWS_CONFIG_FILE ?? join(home, '.aws', 'config'),
    credentials: env.AWS_SHARED_CREDENTIALS_FILE ?? join(home, '.aws', 'credentials')
  }
}

export function classifyProfile (settings: Record<string, string>): ProfileKind {
  if (settings.role_arn !== undefined && (settings.source_profile !== undefined || settings.credential_source !== undefined)) return 'role'
  if (settings.aws_access_key_id !== undefined && settings.aws_secret_access_key !== undefined) return 'static'
  if (settings.role_arn !== undefined && settings.web_identity_token_file !== undefined) return 'web-identity'
  if (settings.credential_process !== undefined) return 'process'
  if (settings.sso_session !== undefined || settings.sso_start_url !== undefined) return 'sso'
  if (settings.login_session !== undefined) return 'login'
  return 'empty'
}

/** Reads the profile the SDK will use (AWS_PROFILE or "default") from both shared files. */
export function readProfile (env: Env, profile?: string): ProfileInfo {
  const name = profile ?? env.AWS_PROFILE ?? 'default'
  const files = configFiles(env)
  const config = parseIni(readText(files.config) ?? '')
  const credentials = parseIni(readText(files.credentials) ?? '')
  const fromConfig = config.get(name === 'default' ? 'default' : `profile ${name}`) ?? (name === 'default' ? config.get('profile default') : undefined)
  const fromCredentials = credentials.get(name)
  const info: ProfileInfo = { name, explicit: profile !== undefined || env.AWS_PROFILE !== undefined, found: false, files: [files.config, files.credentials] }
  if (fromConfig === undefined && fromCredentials === undefined) return info
  const settings = { ...fromConfig, ...fromCredentials }
  return { ...info, found: true, kind: classifyProfile(settings), region: settings.region, credentialProcess: settings.credential_process }
}

export interface SourcePlan {
  source: AwsSource
  applies: boolean
  /** why it applies or not (names env vars and files, never values) */
  reason: string
  /** what it calls, for step labels */
  endpoint?: string
}

const PROFILE_SOURCE: Record<ProfileKind, AwsSource | undefined> = {
  sso: 'aws:sso', role: 'aws:profile', static: 'aws:profile', login: 'aws:profile', process: 'aws:process', 'web-identity': 'aws:web-identity', empty: undefined
}

function truthy (value: string | undefined): boolean {
  return value !== undefined && value !== '' && value.toLowerCase() !== 'false'
}

export function containerEndpoint (env: Env): string | undefined {
  if (truthy(env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)) return `http://169.254.170.2${env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI ?? ''}`
  if (truthy(env.AWS_CONTAINER_CREDENTIALS_FULL_URI)) return env.AWS_CONTAINER_CREDENTIALS_FULL_URI
  return undefined
}

/** Which sources of the default chain can apply here, in the chain's order. */
export function planSources (env: Env, profile: ProfileInfo): SourcePlan[] {
  const plans: SourcePlan[] = []
  const hasKeys = truthy(env.AWS_ACCESS_KEY_ID) && truthy(env.AWS_SECRET_ACCESS_KEY)
  plans.push(hasKeys && env.AWS_PROFILE === undefined
    ? { source: 'aws:env', applies: true, reason: 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are set' }
    : { source: 'aws:env', applies: false, reason: hasKeys ? 'AWS_PROFILE is set, so the SDK skips the AWS_ACCESS_KEY_ID pair' : 'AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not set' })

  const profileSource = profile.kind === undefined ? undefined : PROFILE_SOURCE[profile.kind]
  const where = `${profile.files[0]} / ${profile.files[1]}`
  for (const source of ['aws:sso', 'aws:profile', 'aws:process'] as const) {
    if (!profile.found) {
      plans.push({ source, applies: false, reason: `no profile "${profile.name}" in ${where}` })
    } else if (profileSource === source) {
      plans.push({ source, applies: true, reason: `profile "${profile.name}" (${profile.kind ?? 'empty'})`, endpoint: `profile ${profile.name}` })
    } else {
      plans.push({ source, applies: false, reason: `profile "${profile.name}" is ${profile.kind === 'empty' ? 'empty (no keys, role, sso or credential_process)' : `a ${profile.kind ?? 'other'} profile`}` })
    }
  }

  const webEnv = truthy(env.AWS_WEB_IDENTITY_TOKEN_FILE) && truthy(env.AWS_ROLE_ARN)
  if (webEnv) plans.push({ source: 'aws:web-identity', applies: true, reason: 'AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are set', endpoint: `STS AssumeRoleWithWebIdentity ${env.AWS_ROLE_ARN ?? ''}` })
  else if (profileSource === 'aws:web-identity') plans.push({ source: 'aws:web-identity', applies: true, reason: `profile "${profile.name}" has web_identity_token_file`, endpoint: `profile ${profile.name}` })
  else plans.push({ source: 'aws:web-identity', applies: false, reason: 'AWS_WEB_IDENTITY_TOKEN_FILE / AWS_ROLE_ARN are not set' })

  const container = containerEndpoint(env)
  plans.push(container !== undefined
    ? { source: 'aws:container', applies: true, reason: `${truthy(env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) ? 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI' : 'AWS_CONTAINER_CREDENTIALS_FULL_URI'} is set`, endpoint: `container credentials ${container}` }
    : { source: 'aws:container', applies: false, reason: 'AWS_CONTAINER_CREDENTIALS_FULL_URI / AWS_CONTAINER_CREDENTIALS_RELATIVE_URI are not set' })

  const imds = env.AWS_EC2_METADATA_SERVICE_ENDPOINT ?? 'http://169.254.169.254'
  if (container !== undefined) plans.push({ source: 'aws:imds', applies: false, reason: 'not used when container credentials are configured' })
  else if (truthy(env.AWS_EC2_METADATA_DISABLED)) plans.push({ source: 'aws:imds', applies: false, reason: 'AWS_EC2_METADATA_DISABLED is set' })
  else plans.push({ source: 'aws:imds', applies: true, reason: `instance metadata (IMDSv2) at ${imds}`, endpoint: `instance metadata ${imds}` })
  return plans
}

/** `credentials.$source` (SDK feature ids) → our source name. */
export function sourceOf (credentials: Pick<AwsCredentials, never> & { $source?: Record<string, unknown> }, plans: readonly SourcePlan[]): AwsSource {
  const flags = Object.keys(credentials.$source ?? {})
  const has = (re: RegExp): boolean => flags.some((f) => re.test(f))
  if (has(/^CREDENTIALS_HTTP$/)) return 'aws:container'
  if (has(/^CREDENTIALS_IMDS$/)) return 'aws:imds'
  if (has(/STS_WEB_ID_TOKEN|ASSUME_ROLE_WEB_ID/)) return 'aws:web-identity'
  if (has(/SSO/)) return 'aws:sso'
  if (has(/PROCESS/)) return 'aws:process'
  if (has(/^CREDENTIALS_PROFILE|ASSUME_ROLE$|LOGIN/)) return 'aws:profile'
  if (has(/^CREDENTIALS_ENV_VARS$/)) return 'aws:env'
  // the container fallback and IMDS through the default chain set no $source
  if (plans.some((p) => p.source === 'aws:container' && p.applies)) return 'aws:container'
  return 'aws:imds'
}

/** Where the process runs, from the platform's own markers. */
export function detectPlatform (env: Env, source: AwsSource): string {
  if (truthy(env.AWS_LAMBDA_FUNCTION_NAME)) return 'lambda'
  if (truthy(env.ECS_CONTAINER_METADATA_URI_V4) || truthy(env.ECS_CONTAINER_METADATA_URI) || truthy(env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) || (env.AWS_EXECUTION_ENV ?? '').startsWith('AWS_ECS')) return 'ecs'
  const full = env.AWS_CONTAINER_CREDENTIALS_FULL_URI ?? ''
  if (truthy(env.KUBERNETES_SERVICE_HOST) || /169\.254\.170\.23|fd00:ec2::23/.test(full) || /eks\.amazonaws\.com/.test(env.AWS_WEB_IDENTITY_TOKEN_FILE ?? '')) return 'eks'
  if (source === 'aws:imds') return 'ec2'
  return 'local'
}

// ---------------------------------------------------------------------------------------------
// Bounding the chain: the SDK's container provider has no abort and only a warning timeout, so
// a credentials endpoint that accepts and never answers would keep the process alive for ever.
// Every HTTP request started inside `run` (found through its async context) is destroyed when
// the step's signal aborts and on close.

const REQUEST_START = 'http.client.request.start'

interface RequestScope {
  owner: InFlightRequests
  requests: Set<ClientRequest>
  /** the step was aborted: a request started later in it (a chain falling through) dies at once */
  ended?: string
}

// One subscriber for the process; it only looks at requests started inside a tracked step.
const scopes = new AsyncLocalStorage<RequestScope>()
let listening = false
function onRequestStart (message: unknown): void {
  const scope = scopes.getStore()
  if (scope !== undefined) scope.owner.track(scope, (message as { request: ClientRequest }).request)
}

export class InFlightRequests {
  private readonly open = new Set<ClientRequest>()
  private closed = false

  /** Runs `task`; every HTTP request it starts is destroyed when `signal` aborts or on close(). */
  async run<T>(signal: AbortSignal, task: () => Promise<T>): Promise<T> {
    if (!listening) {
      subscribe(REQUEST_START, onRequestStart)
      listening = true
    }
    const scope: RequestScope = { owner: this, requests: new Set() }
    const abort = (): void => {
      scope.ended = 'the startup deadline passed'
      destroyAll(scope.requests, scope.ended)
    }
    if (signal.aborted) abort()
    else signal.addEventListener('abort', abort, { once: true })
    try {
      return await scopes.run(scope, task)
    } finally {
      signal.removeEventListener('abort', abort)
    }
  }

  /** @internal called by the channel subscriber */
  track (scope: RequestScope, request: ClientRequest): void {
    const ended = this.closed ? 'fastify-cloud-secrets closed' : scope.ended
    if (ended !== undefined) {
      process.nextTick(() => { destroyAll(new Set([request]), ended) })
      return
    }
    scope.requests.add(request)
    this.open.add(request)
    request.once('close', () => {
      scope.requests.delete(request)
      this.open.delete(request)
    })
  }

  get size (): number {
    return this.open.size
  }

  /** Destroys every request still open, and any a tracked step starts from now on. */
  close (): void {
    this.closed = true
    destroyAll(this.open, 'fastify-cloud-secrets closed')
  }
}

function destroyAll (requests: Set<ClientRequest>, why: string): void {
  for (const request of [...requests]) {
    request.destroy(Object.assign(new Error(`request aborted: ${why}`), { name: 'AbortError' }))
  }
}

// ---------------------------------------------------------------------------------------------
// Resolving the chain.

export type CredentialsSdk = Pick<typeof CredentialProviders, 'fromNodeProviderChain' | 'fromEnv' | 'fromIni' | 'fromTokenFile' | 'fromHttp' | 'fromInstanceMetadata'>

export interface ChainResult {
  credentials: AwsCredentials
  source: AwsSource
  attempts: CredentialAttempt[]
}

/** The SDK's logger contract, quiet except warnings, into the app's logger. */
export function sdkLogger (log: Logger): { trace: () => void, debug: () => void, info: () => void, warn: (...args: unknown[]) => void, error: (...args: unknown[]) => void } {
  const warn = (...args: unknown[]): void => {
    const entry = sdkLogEntry(args[0])
    log.warn({ sdk: 'aws', ...entry.fields }, 'aws sdk: %s', entry.text)
  }
  return { trace () {}, debug () {}, info () {}, warn, error: warn }
}

/**
 * What the SDK hands its logger: a string (deprecation notes, warnings) or, from its logger
 * middleware on a failed call, `{ clientName, commandName, input, error, metadata }`. Only the
 * client, the command and the error's name/code/status/request id are kept: `input` can carry
 * secret ids and, for other commands, values; an error message can quote input.
 */
export function sdkLogEntry (arg: unknown): { text: string, fields: Record<string, string | number> } {
  if (typeof arg !== 'object' || arg === null) return { text: String(arg).split('\n')[0].slice(0, 300), fields: {} }
  const o = arg as { clientName?: unknown, commandName?: unknown, error?: { name?: unknown, code?: unknown, $metadata?: { httpStatusCode?: unknown, requestId?: unknown } }, metadata?: { httpStatusCode?: unknown, requestId?: unknown } }
  const str = (v: unknown): string | undefined => typeof v === 'string' && v.length > 0 ? v.slice(0, 100) : undefined
  const fields: Record<string, string | number> = {}
  const client = str(o.clientName)
  const command = str(o.commandName)
  const errorName = str(o.error?.name) ?? str(o.error?.code)
  const status = o.metadata?.httpStatusCode ?? o.error?.$metadata?.httpStatusCode
  const requestId = str(o.metadata?.requestId) ?? str(o.error?.$metadata?.requestId)
  if (client !== undefined) fields.client = client
  if (command !== undefined) fields.command = command
  if (errorName !== undefined) fields.error = errorName
  if (typeof status === 'number') fields.httpStatusCode = status
  if (requestId !== undefined) fields.requestId = requestId
  const text = [client, command].filter((x) => x !== undefined).join(' ') || 'SDK call'
  return { text: `${text} failed${errorName !== undefined ? `: ${errorName}` : ''}${typeof status === 'number' ? ` (HTTP ${status})` : ''}`, fields }
}

const IMDS_TIMEOUT_MS = 1000

/**
 * One credential chain (the SDK's default Node chain) for the whole app, with the bounds the
 * plugin needs: one try per provider (the plugin retries), timeouts that end no later than the
 * startup deadline, and every request it opens tracked so it can be destroyed.
 */
export class CredentialChain {
  readonly provider: AwsCredentialsProvider
  readonly plans: SourcePlan[]
  readonly profile: ProfileInfo
  private lastAttempts: CredentialAttempt[]

  constructor (
    private readonly sdk: CredentialsSdk,
    private readonly env: Env,
    private readonly region: string,
    private readonly timeoutMs: number,
    private readonly requests: InFlightRequests,
    private readonly log: Logger
  ) {
    this.profile = readProfile(env)
    this.plans = planSources(env, this.profile)
    this.lastAttempts = this.plans.map((p) => ({ source: p.source, outcome: 'skipped', reason: p.applies ? `${p.reason}; not tried yet` : p.reason }))
    const primary = this.primary
    if (primary?.source === 'aws:process' && this.profile.credentialProcess !== undefined) {
      this.process = new ProcessCredentialSource(this.profile.credentialProcess, this.profile.name, env)
      this.provider = this.process.provider as unknown as AwsCredentialsProvider
    } else {
      this.provider = sdk.fromNodeProviderChain(this.init())
    }
  }

  /** set when the profile's credentials come from credential_process, which the plugin runs itself */
  private process: ProcessCredentialSource | undefined

  /** kills a credential_process still running */
  close (): void {
    this.process?.kill()
  }

  private init (): Parameters<CredentialsSdk['fromNodeProviderChain']>[0] {
    const primary = this.primary
    // the container provider uses `timeout` as its connect timeout (its read timeout only warns):
    // let the deadline, which destroys the request, be what ends a silent endpoint; IMDS keeps
    // the SDK's 1 s so a laptop with IMDS enabled learns quickly that it is not on EC2
    const timeout = primary?.source === 'aws:container' ? this.timeoutMs + 1000 : Math.min(IMDS_TIMEOUT_MS, this.timeoutMs)
    return { timeout, maxRetries: 0, parentClientConfig: { region: this.region }, logger: sdkLogger(this.log) }
  }

  /** the first source of the chain that applies here */
  get primary (): SourcePlan | undefined {
    return this.plans.find((p) => p.applies)
  }

  attempts (): CredentialAttempt[] {
    return this.lastAttempts.map((a) => ({ ...a }))
  }

  label (): string {
    const p = this.primary
    return `identity: AWS credential chain (${p === undefined ? 'no source configured' : `${p.source} via ${p.endpoint ?? p.reason}`})`
  }

  /** Runs the chain once; a failure is explained through the single provider that applied. */
  async resolve (ctx: StepContext): Promise<ChainResult> {
    const credentials = await ctx.retry(this.label(), async (signal) => {
      try {
        const proc = this.process
        if (proc !== undefined) return await proc.during(signal, async () => await this.provider())
        return await this.requests.run(signal, async () => await this.provider())
      } catch (err) {
        if (signal.aborted) throw err
        throw await this.explain(err, signal)
      }
    }, (err) => err instanceof CloudSecretsError ? err : this.failure(err, err))
    const source = sourceOf(credentials as AwsCredentials & { $source?: Record<string, unknown> }, this.plans)
    const winner = CHAIN_ORDER.indexOf(source)
    this.lastAttempts = this.plans.map((p) => {
      const at = CHAIN_ORDER.indexOf(p.source)
      if (at === winner) return { source: p.source, outcome: 'ok', reason: `${p.reason}; credentials obtained${credentials.expiration !== undefined ? `, valid until ${credentials.expiration.toISOString()}` : ''}` }
      if (at > winner) return { source: p.source, outcome: 'skipped', reason: `not tried: ${source} answered first` }
      return { source: p.source, outcome: 'skipped', reason: p.reason }
    })
    return { credentials, source, attempts: this.attempts() }
  }

  /** The chain collapses reasons into "Could not load credentials from any providers": ask the one that applied. */
  private async explain (err: unknown, signal: AbortSignal): Promise<CloudSecretsError> {
    const primary = this.primary
    if (primary === undefined) return this.failure(err, err)
    const collapsed = /could not load credentials from any providers/i.test(String((err as Error)?.message))
    if (!collapsed) return this.failure(err, err)
    let real: unknown
    try {
      await this.requests.run(signal, async () => await this.single(primary.source)())
      real = undefined
    } catch (e) {
      real = e
    }
    if (signal.aborted) return this.failure(err, err)
    if (real === undefined) {
      return new CloudSecretsError('UNAVAILABLE', `the AWS credential chain failed, but ${primary.source} answered when asked again`, { provider: 'aws', retryable: true, cause: safeCause(err) })
    }
    return this.failure(real, err)
  }

  private single (source: AwsSource): AwsCredentialsProvider {
    const { sdk } = this
    const logger = sdkLogger(this.log)
    switch (source) {
      case 'aws:env': return sdk.fromEnv({ logger })
      case 'aws:web-identity': return this.profile.kind === 'web-identity' && !truthy(this.env.AWS_WEB_IDENTITY_TOKEN_FILE) ? sdk.fromIni({ profile: this.profile.name, parentClientConfig: { region: this.region }, logger }) : sdk.fromTokenFile({ parentClientConfig: { region: this.region }, logger })
      case 'aws:container': return sdk.fromHttp({ timeout: this.timeoutMs + 1000, maxRetries: 0, logger })
      case 'aws:imds': return sdk.fromInstanceMetadata({ timeout: IMDS_TIMEOUT_MS, maxRetries: 0, logger })
      default: return sdk.fromIni({ profile: this.profile.name, parentClientConfig: { region: this.region }, logger })
    }
  }

  /** Turns the real reason of the source that applied into a coded error. */
  private failure (real: unknown, chainError: unknown): CloudSecretsError {
    const primary = this.primary
    const name = errorName(real)
    const reason = reasonOf(real)
    this.lastAttempts = this.plans.map((p) => {
      if (p === primary) return { source: p.source, outcome: 'failed', reason }
      if (p.applies) return { source: p.source, outcome: 'failed', reason: 'tried after the source above; no credentials' }
      return { source: p.source, outcome: 'skipped', reason: p.reason }
    })
    const attempts = this.attempts()
    if (primary === undefined) {
      return noCredentials('No AWS credentials: no credential source of the SDK\'s default chain is configured for this process', attempts, this.profile.explicit ? this.profile.name : undefined, chainError)
    }
    const where = `${primary.source} (${primary.endpoint ?? primary.reason})`
    const status = statusOf(real)
    const network = networkErrorCode(real) ?? networkCodeIn(real) ?? (name === 'TimeoutError' ? 'ETIMEDOUT' : undefined)
    const details = { provider: 'aws' as const, attempts, cause: safeCause(real) }
    // providers that wrap a service error keep its name only as the message's prefix
    const wrapped = /^([A-Za-z]+):/.exec(String((real as Error)?.message))?.[1] ?? ''
    // a container / IMDS endpoint's own Code (e.g. AccessDenied for a bad authorization token)
    // means no credentials here; an STS or SSO error code means a credential was refused
    const endpoint = primary.source === 'aws:container' || primary.source === 'aws:imds'
    const code = endpoint ? '' : String((real as { Code?: string })?.Code ?? '')
    if (ssoExpired(real) || [name, wrapped, code].some((n) => TOKEN_NAMES.has(n) || ACCESS_DENIED_NAMES.has(n))) {
      return new CloudSecretsError('TOKEN', `AWS credentials were found via ${where} but no token could be obtained: ${reason}`, { ...details, fix: tokenFix(primary.source, this.profile.name) })
    }
    // fromHttp reports an endpoint's 429 only as "status: 429" in its message
    if (THROTTLE_NAMES.has(name) || status === 429) {
      return new CloudSecretsError('THROTTLED', `${where} throttled the credential request: ${reason}`, { ...details, retryable: true })
    }
    const transient = SERVER_NAMES.has(name) || (status !== undefined && status >= 500) || (network !== undefined && primary.source !== 'aws:imds')
    if (transient) {
      return new CloudSecretsError('UNAVAILABLE', `${where} failed: ${reason}`, {
        ...details,
        retryable: true,
        fix: primary.source === 'aws:container'
          ? 'the container credentials endpoint did not answer: check the ECS agent / EKS Pod Identity agent, and that the task role or pod identity association exists'
          : `check network access to ${primary.endpoint ?? primary.source} from this host`
      })
    }
    return noCredentials(`No AWS credentials: ${where} applied but failed: ${reason}`, attempts, this.profile.name, real)
  }
}

function statusOf (err: unknown): number | undefined {
  const e = err as { statusCode?: number, $metadata?: { httpStatusCode?: number }, message?: string } | undefined
  const fromMessage = /status(?:\s*code)?:?\s*(\d{3})/i.exec(String(e?.message))?.[1]
  return e?.statusCode ?? e?.$metadata?.httpStatusCode ?? (fromMessage !== undefined ? Number(fromMessage) : undefined)
}

const NETWORK_IN_TEXT = /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE)\b/

/** fromHttp wraps a network error into a message string only */
function networkCodeIn (err: unknown): string | undefined {
  return NETWORK_IN_TEXT.exec(String((err as Error)?.message))?.[1]
}

function ssoExpired (err: unknown): boolean {
  return /aws sso login|sso session|sso.*token|token.*sso/i.test(String((err as Error)?.message))
}

/** A one-line reason, with the endpoint's Code/Message when it sent them (never credentials). */
export function reasonOf (err: unknown): string {
  const e = err as { name?: string, message?: string, Code?: string, Message?: string, code?: string } | undefined
  const first = String(e?.message ?? err).split('\n').filter((l) => l.trim().length > 0).slice(0, 2).join(' ').slice(0, 300)
  const extra = [e?.Code, e?.Message].filter((x) => typeof x === 'string' && x.length > 0).join(': ').slice(0, 200)
  const network = networkErrorCode(err)
  const name = e?.name !== undefined && e.name !== 'Error' && e.name !== 'CredentialsProviderError' && e.name !== 'ProviderError' ? `${e.name}: ` : ''
  return `${name}${first}${extra.length > 0 ? ` (${extra})` : ''}${network !== undefined && !first.includes(network) ? ` [${network}]` : ''}`
}
