import type { Env } from '../../shared/env.js'
import type { AwsCredentials, AwsCredentialsProvider } from './clients.js'
import { configFiles, type ProfileInfo } from './profile.js'
import type { CredentialSources, SourceInit } from './sdk.js'
import { setAndNotFalse } from '../../shared/env.js'
import type { EarlyContainerCredentials } from './early-container.js'
import { containerEndpoint, type AwsSource } from './sources.js'

/**
 * The SDK's default Node credential chain (`@aws-sdk/credential-provider-node`), in its order and
 * with its rules, rebuilt from the SDK's single sources so that every input comes from the
 * plugin's env (`options.env`, else process.env) and never from process.env behind it: the
 * default chain and its sources read process.env themselves when an option is not given.
 *
 * What the SDK still reads from process.env whatever is passed (see README, option `env`):
 * HOME for `~/.aws/sso/cache` (SSO tokens) and for `~/` in file paths it expands itself; the
 * IMDS endpoint (AWS_EC2_METADATA_SERVICE_ENDPOINT, _MODE, AWS_EC2_METADATA_V1_DISABLED=true);
 * and, in the STS / SSO clients it builds inside a profile's source (AssumeRole, SSO), their own
 * settings: endpoint URLs (AWS_ENDPOINT_URL_STS…), retry / defaults mode, and the shared config
 * files at process.env's AWS_CONFIG_FILE. FIPS and dual-stack are passed from env; the STS client
 * of web identity from env vars gets its endpoint too.
 */

/** the SDK's CredentialsProviderError shape: `tryNextLink` lets the chain go on */
export class ChainLinkError extends Error {
  readonly tryNextLink: boolean
  constructor (message: string, tryNextLink = true) {
    super(message)
    this.name = 'CredentialsProviderError'
    this.tryNextLink = tryNextLink
  }
}

export interface EnvChainSettings {
  env: Env
  profile: ProfileInfo
  /** what every source takes: timeout, maxRetries, parentClientConfig, logger */
  base: SourceInit
  /** settings for the STS / SSO clients the SDK builds inside a source */
  clientConfig?: Record<string, unknown>
  /** the STS endpoint the plugin resolved from env, for AssumeRoleWithWebIdentity from env vars */
  stsEndpoint?: string
  /** the SDK's single sources, each imported on first use */
  source: <K extends keyof CredentialSources>(name: K) => Promise<CredentialSources[K]>
  /** the container-credentials request the plugin sent before the SDK import (early-container.ts) */
  early?: EarlyContainerCredentials
}

/** The shared config files of `env`, as fromIni / fromSSO take them (the plan reads the same). */
export function sharedFiles (env: Env): { filepath: string, configFilepath: string } {
  const files = configFiles(env)
  return { filepath: files.credentials, configFilepath: files.config }
}

/** set(nonEmpty) as the SDK tests env vars (`if (process.env[X])`) */
function set (value: string | undefined): value is string {
  return value !== undefined && value !== ''
}

/** aws:env: what the SDK's fromEnv builds, from `env`. */
export function envCredentials (env: Env): AwsCredentials | undefined {
  const accessKeyId = env.AWS_ACCESS_KEY_ID
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY
  if (!set(accessKeyId) || !set(secretAccessKey)) return undefined
  const credentials: AwsCredentials & { $source: Record<string, string> } = {
    accessKeyId,
    secretAccessKey,
    ...(set(env.AWS_SESSION_TOKEN) ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    ...(set(env.AWS_CREDENTIAL_EXPIRATION) ? { expiration: new Date(env.AWS_CREDENTIAL_EXPIRATION) } : {}),
    ...(set(env.AWS_CREDENTIAL_SCOPE) ? { credentialScope: env.AWS_CREDENTIAL_SCOPE } : {}),
    ...(set(env.AWS_ACCOUNT_ID) ? { accountId: env.AWS_ACCOUNT_ID } : {}),
    $source: { CREDENTIALS_ENV_VARS: 'g' }
  }
  return credentials
}

/** Runs providers in order; one that throws with `tryNextLink` hands over to the next. */
async function firstOf (providers: ReadonlyArray<() => Promise<AwsCredentials>>): Promise<AwsCredentials> {
  let last: unknown
  for (const provider of providers) {
    try {
      return await provider()
    } catch (err) {
      last = err
      if ((err as { tryNextLink?: boolean } | undefined)?.tryNextLink === true) continue
      throw err
    }
  }
  throw last
}

/**
 * One source of the chain, alone, with its inputs from `env` (the chain's links, and a failure's
 * second ask). `legacyContainer`: as in the default chain, the legacy container source answers
 * when fromHttp cannot (only when env is process.env, the one env that source reads).
 */
export function sourceProvider (source: AwsSource, s: EnvChainSettings, legacyContainer = false): AwsCredentialsProvider {
  const { env, profile, base, clientConfig } = s
  switch (source) {
    case 'aws:env':
      return async () => {
        const credentials = envCredentials(env)
        if (credentials === undefined) throw new ChainLinkError('Unable to find environment variable credentials.')
        return credentials
      }
    case 'aws:web-identity':
      return async (props) => {
        const file = env.AWS_WEB_IDENTITY_TOKEN_FILE
        const roleArn = env.AWS_ROLE_ARN
        if (!setAndNotFalse(file) || !setAndNotFalse(roleArn) || file === undefined || roleArn === undefined) {
          // a web_identity_token_file profile is fromIni's to resolve
          if (profile.kind === 'web-identity') return await (await profileProvider(s))(props)
          throw new ChainLinkError('Web identity configuration not specified')
        }
        const fromTokenFile = await s.source('fromTokenFile')
        // an absent option would make the source read process.env: every one is given
        const roleSessionName = set(env.AWS_ROLE_SESSION_NAME) ? env.AWS_ROLE_SESSION_NAME : `aws-sdk-js-session-${Date.now()}`
        // this STS client serves only this call: it can be given the endpoint (AWS_ENDPOINT_URL_STS… from env)
        const sts = { ...clientConfig, ...(s.stsEndpoint !== undefined ? { endpoint: s.stsEndpoint, useFipsEndpoint: false, useDualstackEndpoint: false } : {}) }
        return await fromTokenFile({ ...base, clientConfig: sts, webIdentityTokenFile: file, roleArn, roleSessionName })(props)
      }
    case 'aws:container':
      return async (props) => {
        if (containerEndpoint(env) === undefined) throw new ChainLinkError('No HTTP credential provider host provided: AWS_CONTAINER_CREDENTIALS_FULL_URI / AWS_CONTAINER_CREDENTIALS_RELATIVE_URI are not set')
        // the first ask: the answer to the request sent before the SDK import, when it was a good one
        const early = await s.early?.take()
        if (early !== undefined) return early
        const fromHttp = await s.source('fromHttp')
        // '' rather than undefined: fromHttp reads process.env for an option that is undefined
        const http = fromHttp({
          ...base,
          awsContainerCredentialsRelativeUri: setAndNotFalse(env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) ? env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI : '',
          awsContainerCredentialsFullUri: env.AWS_CONTAINER_CREDENTIALS_FULL_URI ?? '',
          awsContainerAuthorizationToken: env.AWS_CONTAINER_AUTHORIZATION_TOKEN ?? '',
          awsContainerAuthorizationTokenFile: env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE ?? ''
        })
        if (!legacyContainer || env !== process.env) return await http(props)
        // the default chain's fallback, the legacy container source, reads only process.env
        const legacy = (await s.source('fromContainerMetadata'))(base)
        return await firstOf([async () => await http(props), async () => await legacy(props)])
      }
    case 'aws:imds':
      return async (props) => {
        if (setAndNotFalse(env.AWS_EC2_METADATA_DISABLED)) throw new ChainLinkError('EC2 Instance Metadata Service access disabled')
        const fromInstanceMetadata = await s.source('fromInstanceMetadata')
        // the SDK takes the endpoint from process.env only; v1 can be turned off, not on
        return await fromInstanceMetadata({ ...base, ...(setAndNotFalse(env.AWS_EC2_METADATA_V1_DISABLED) ? { ec2MetadataV1Disabled: true } : {}) })(props)
      }
    default:
      return async (props) => await (await profileProvider(s))(props)
  }
}

/** The profile's source: fromSSO for an SSO profile (fromIni would not pass it the files), else fromIni. */
async function profileProvider (s: EnvChainSettings): Promise<AwsCredentialsProvider> {
  const { profile, base, clientConfig } = s
  const init = { ...base, ...(clientConfig !== undefined ? { clientConfig } : {}), ...sharedFiles(s.env), profile: profile.name }
  if (profile.kind === 'sso') return (await s.source('fromSSO'))(init)
  return (await s.source('fromIni'))(init)
}

/** the SDK's rule: credentials that expire in less than 5 minutes are fetched again */
function treatedAsExpired (credentials: AwsCredentials): boolean {
  return credentials.expiration !== undefined && credentials.expiration.getTime() - Date.now() < 300_000
}

/**
 * The default chain from `env`, deciding as the plan (sources.ts) does which source applies: env keys (unless AWS_PROFILE is set), the profile (SSO, static,
 * role, process, web identity, login), web identity from env, then container credentials or
 * IMDS; memoised as the SDK's default chain is (refetched 5 minutes before expiry, in the
 * background while the old credentials are still valid; `forceRefresh`).
 */
export function envChain (s: EnvChainSettings): AwsCredentialsProvider {
  const { env, profile } = s
  const links: Array<(props?: Record<string, unknown>) => Promise<AwsCredentials>> = [
    async (props) => {
      if (env.AWS_PROFILE !== undefined) throw new ChainLinkError('AWS_PROFILE is set, skipping fromEnv provider.')
      return await sourceProvider('aws:env', s)(props)
    },
    async (props) => {
      if (!profile.found) throw new ChainLinkError(`Profile ${profile.name} could not be found or parsed in shared credentials file.`)
      return await sourceProvider('aws:profile', s)(props)
    },
    async (props) => {
      if (!setAndNotFalse(env.AWS_WEB_IDENTITY_TOKEN_FILE) || !setAndNotFalse(env.AWS_ROLE_ARN)) throw new ChainLinkError('Web identity configuration not specified')
      return await sourceProvider('aws:web-identity', s)(props)
    },
    async (props) => await sourceProvider(containerEndpoint(env) !== undefined ? 'aws:container' : 'aws:imds', s, true)(props),
    async () => { throw new ChainLinkError('Could not load credentials from any providers', false) }
  ]
  const run = async (props?: Record<string, unknown>): Promise<AwsCredentials> => await firstOf(links.map((link) => async () => await link(props)))

  let credentials: AwsCredentials | undefined
  let active: Promise<void> | undefined
  let passive: Promise<void> | undefined
  let forced: Promise<void> | undefined
  const provider = async (props?: Record<string, unknown>): Promise<AwsCredentials> => {
    if (props?.forceRefresh === true) {
      forced ??= run(props).then((c) => { credentials = c }).finally(() => { forced = undefined })
      await forced
      return credentials as AwsCredentials
    }
    if (credentials?.expiration !== undefined && credentials.expiration.getTime() < Date.now()) credentials = undefined
    if (active !== undefined) {
      await active
    } else if (credentials === undefined) {
      active = run(props).then((c) => { credentials = c }).finally(() => { active = undefined })
      await active
    } else if (treatedAsExpired(credentials)) {
      passive ??= run(props).then((c) => { credentials = c }, () => {}).finally(() => { passive = undefined })
    }
    return credentials as AwsCredentials
  }
  return provider
}
