import { CloudSecretsError, type CredentialAttempt } from '../../errors.js'
import { networkErrorCode } from '../../retry.js'
import type { Env } from '../../shared/env.js'
import type { Logger } from '../../types.js'
import type { StepContext } from '../types.js'
import type { AwsCredentials, AwsCredentialsProvider } from './clients.js'
import { ACCESS_DENIED_NAMES, errorName, noCredentials, safeCause, SERVER_NAMES, THROTTLE_NAMES, TOKEN_NAMES, tokenFix } from './errors.js'
import { ProcessCredentialSource } from './process-source.js'
import { readProfile, type ProfileInfo } from './profile.js'
import type { RequestLifetime } from '../../shared/request-lifetime.js'
import type { CredentialSources, SourceInit } from './sdk.js'
import type { EarlyContainerCredentials } from './early-container.js'
import { envChain, sourceProvider, type EnvChainSettings } from './env-chain.js'
import { sdkLogger } from './sdk-logger.js'
import { CHAIN_ORDER, planSources, sourceOf, type AwsSource, type SourcePlan } from './sources.js'

/** The SDK pieces the chain uses: its single sources, each imported on first use. */
export interface ChainSdk {
  source: <K extends keyof CredentialSources>(name: K) => Promise<CredentialSources[K]>
}

export interface ChainResult {
  credentials: AwsCredentials
  source: AwsSource
  attempts: CredentialAttempt[]
}

const IMDS_TIMEOUT_MS = 1000

/**
 * One credential chain (the SDK's default Node chain, rebuilt in env-chain.ts so that its inputs
 * come from the plugin's env) for the whole app, with the bounds the plugin needs: one try per provider (the plugin retries), timeouts that end no later than the
 * startup deadline, and every request it opens tracked so it can be destroyed.
 */
export class CredentialChain {
  readonly provider: AwsCredentialsProvider
  readonly plans: SourcePlan[]
  readonly profile: ProfileInfo
  private lastAttempts: CredentialAttempt[]

  constructor (
    private readonly sdk: ChainSdk,
    private readonly env: Env,
    private readonly region: string,
    private readonly timeoutMs: number,
    private readonly requests: RequestLifetime,
    private readonly log: Logger,
    /** settings for the STS / SSO clients the SDK builds inside a source */
    private readonly clientConfig?: Record<string, unknown>,
    /** the STS endpoint resolved from env */
    private readonly stsEndpoint?: string,
    /** the container-credentials request sent before the SDK import, taken by the first ask */
    private readonly early?: EarlyContainerCredentials
  ) {
    this.profile = readProfile(env)
    this.plans = planSources(env, this.profile, process.env)
    this.lastAttempts = this.plans.map((p) => ({ source: p.source, outcome: 'skipped', reason: p.applies ? `${p.reason}; not tried yet` : p.reason }))
    const primary = this.primary
    if (primary?.source === 'aws:process' && this.profile.credentialProcess !== undefined) {
      this.process = new ProcessCredentialSource(this.profile.credentialProcess, this.profile.name, env)
      this.provider = this.process.provider as unknown as AwsCredentialsProvider
    } else {
      this.provider = envChain(this.settings(this.init()))
    }
  }

  /** set when the profile's credentials come from credential_process, which the plugin runs itself */
  private process: ProcessCredentialSource | undefined

  /** kills a credential_process still running */
  close (): void {
    this.process?.kill()
  }

  private init (): SourceInit {
    const primary = this.primary
    // the container provider uses `timeout` as its connect timeout (its read timeout only warns):
    // let the deadline, which destroys the request, be what ends a silent endpoint; IMDS keeps
    // the SDK's 1 s so a laptop with IMDS enabled learns quickly that it is not on EC2
    const timeout = primary?.source === 'aws:container' ? this.timeoutMs + 1000 : Math.min(IMDS_TIMEOUT_MS, this.timeoutMs)
    return { timeout, maxRetries: 0, parentClientConfig: { region: this.region }, logger: sdkLogger(this.log) }
  }

  private settings (base: SourceInit): EnvChainSettings {
    return { env: this.env, profile: this.profile, base, clientConfig: this.clientConfig, stsEndpoint: this.stsEndpoint, source: this.sdk.source, early: this.early }
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
        return await this.requests.track(signal, async () => await this.provider())
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
      await this.requests.track(signal, async () => await (await this.single(primary.source))())
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

  /** The one source that applied, alone (with the chain's inputs from env). */
  private async single (source: AwsSource): Promise<AwsCredentialsProvider> {
    const logger = sdkLogger(this.log)
    const parentClientConfig = { region: this.region }
    const base: SourceInit = source === 'aws:container'
      ? { timeout: this.timeoutMs + 1000, maxRetries: 0, logger }
      : source === 'aws:imds' ? { timeout: IMDS_TIMEOUT_MS, maxRetries: 0, logger } : { parentClientConfig, logger }
    return sourceProvider(source, this.settings(base))
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
