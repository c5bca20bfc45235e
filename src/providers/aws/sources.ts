import type { Env } from '../../shared/env.js'
import { setAndNotFalse } from '../../shared/env.js'
import type { ProfileInfo, ProfileKind } from './profile.js'

// What the environment and the profile say (no network): which source of the chain can apply.

export type AwsSource = 'aws:env' | 'aws:sso' | 'aws:profile' | 'aws:process' | 'aws:web-identity' | 'aws:container' | 'aws:imds'

/** The SDK's default chain, in its order. */
export const CHAIN_ORDER: readonly AwsSource[] = ['aws:env', 'aws:sso', 'aws:profile', 'aws:process', 'aws:web-identity', 'aws:container', 'aws:imds']

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

export function containerEndpoint (env: Env): string | undefined {
  if (setAndNotFalse(env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)) return `http://169.254.170.2${env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI ?? ''}`
  if (setAndNotFalse(env.AWS_CONTAINER_CREDENTIALS_FULL_URI)) return env.AWS_CONTAINER_CREDENTIALS_FULL_URI
  return undefined
}

/**
 * Which sources of the default chain can apply here, in the chain's order. `imdsEnv`: where the
 * SDK reads what it takes no option for, the IMDS endpoint and the SSO token cache's HOME
 * (process.env, whatever env the plugin was given).
 */
export function planSources (env: Env, profile: ProfileInfo, imdsEnv: Env = env): SourcePlan[] {
  const plans: SourcePlan[] = []
  const hasKeys = setAndNotFalse(env.AWS_ACCESS_KEY_ID) && setAndNotFalse(env.AWS_SECRET_ACCESS_KEY)
  plans.push(hasKeys && env.AWS_PROFILE === undefined
    ? { source: 'aws:env', applies: true, reason: 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are set' }
    : { source: 'aws:env', applies: false, reason: hasKeys ? 'AWS_PROFILE is set, so the SDK skips the AWS_ACCESS_KEY_ID pair' : 'AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not set' })

  const profileSource = profile.kind === undefined ? undefined : PROFILE_SOURCE[profile.kind]
  const where = `${profile.files[0]} / ${profile.files[1]}`
  for (const source of ['aws:sso', 'aws:profile', 'aws:process'] as const) {
    if (!profile.found) {
      plans.push({ source, applies: false, reason: `no profile "${profile.name}" in ${where}` })
    } else if (profileSource === source) {
      // the SDK finds the SSO token cache under process.env's HOME only
      const cache = source === 'aws:sso' && imdsEnv !== env && (env.HOME ?? '') !== (imdsEnv.HOME ?? '') ? '; its token cache is read under the HOME of process.env' : ''
      plans.push({ source, applies: true, reason: `profile "${profile.name}" (${profile.kind ?? 'empty'})${cache}`, endpoint: `profile ${profile.name}` })
    } else {
      plans.push({ source, applies: false, reason: `profile "${profile.name}" is ${profile.kind === 'empty' ? 'empty (no keys, role, sso or credential_process)' : `a ${profile.kind ?? 'other'} profile`}` })
    }
  }

  const webEnv = setAndNotFalse(env.AWS_WEB_IDENTITY_TOKEN_FILE) && setAndNotFalse(env.AWS_ROLE_ARN)
  if (webEnv) plans.push({ source: 'aws:web-identity', applies: true, reason: 'AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN are set', endpoint: `STS AssumeRoleWithWebIdentity ${env.AWS_ROLE_ARN ?? ''}` })
  else if (profileSource === 'aws:web-identity') plans.push({ source: 'aws:web-identity', applies: true, reason: `profile "${profile.name}" has web_identity_token_file`, endpoint: `profile ${profile.name}` })
  else plans.push({ source: 'aws:web-identity', applies: false, reason: 'AWS_WEB_IDENTITY_TOKEN_FILE / AWS_ROLE_ARN are not set' })

  const container = containerEndpoint(env)
  plans.push(container !== undefined
    ? { source: 'aws:container', applies: true, reason: `${setAndNotFalse(env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) ? 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI' : 'AWS_CONTAINER_CREDENTIALS_FULL_URI'} is set`, endpoint: `container credentials ${container}` }
    : { source: 'aws:container', applies: false, reason: 'AWS_CONTAINER_CREDENTIALS_FULL_URI / AWS_CONTAINER_CREDENTIALS_RELATIVE_URI are not set' })

  // the SDK's IMDS source takes its endpoint only from process.env (and its config file): plan with that
  const imds = imdsEnv.AWS_EC2_METADATA_SERVICE_ENDPOINT ?? (imdsEnv.AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE === 'IPv6' ? 'http://[fd00:ec2::254]' : 'http://169.254.169.254')
  const ignored = imdsEnv !== env && env.AWS_EC2_METADATA_SERVICE_ENDPOINT !== undefined && env.AWS_EC2_METADATA_SERVICE_ENDPOINT !== imdsEnv.AWS_EC2_METADATA_SERVICE_ENDPOINT
    ? ' (AWS_EC2_METADATA_SERVICE_ENDPOINT of options.env is not used: the SDK reads it from process.env)'
    : ''
  if (container !== undefined) plans.push({ source: 'aws:imds', applies: false, reason: 'not used when container credentials are configured' })
  else if (setAndNotFalse(env.AWS_EC2_METADATA_DISABLED)) plans.push({ source: 'aws:imds', applies: false, reason: 'AWS_EC2_METADATA_DISABLED is set' })
  else plans.push({ source: 'aws:imds', applies: true, reason: `instance metadata (IMDSv2) at ${imds}${ignored}`, endpoint: `instance metadata ${imds}` })
  return plans
}

/** `credentials.$source` (SDK feature ids) → our source name. */
export function sourceOf (credentials: { $source?: Record<string, unknown> }, plans: readonly SourcePlan[]): AwsSource {
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
  if (setAndNotFalse(env.AWS_LAMBDA_FUNCTION_NAME)) return 'lambda'
  if (setAndNotFalse(env.ECS_CONTAINER_METADATA_URI_V4) || setAndNotFalse(env.ECS_CONTAINER_METADATA_URI) || setAndNotFalse(env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) || (env.AWS_EXECUTION_ENV ?? '').startsWith('AWS_ECS')) return 'ecs'
  const full = env.AWS_CONTAINER_CREDENTIALS_FULL_URI ?? ''
  if (setAndNotFalse(env.KUBERNETES_SERVICE_HOST) || /169\.254\.170\.23|fd00:ec2::23/.test(full) || /eks\.amazonaws\.com/.test(env.AWS_WEB_IDENTITY_TOKEN_FILE ?? '')) return 'eks'
  if (source === 'aws:imds') return 'ec2'
  return 'local'
}
