import { CloudSecretsError } from '../../errors.js'
import { networkErrorCode, parseRetryAfter } from '../../retry.js'
import type { Identity } from '../../types.js'
import { ACCESS_PERMISSION, accessDeniedFix, SECRET_ACCESSOR_ROLE, type SecretLocation } from './grant.js'

/** gRPC status codes (google.rpc.Code) the classification uses. */
export const GrpcCode = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16
} as const

export const LOGIN_FIX = 'run `gcloud auth application-default login` (local development), set GOOGLE_APPLICATION_CREDENTIALS to a service-account key or workload identity federation configuration, or run on Google Cloud with a service account attached (Cloud Run, GKE Workload Identity, GCE, App Engine, Cloud Functions)'

const MAX_TEXT = 400

/** Text from an SDK that may be quoted in a message: single line, bounded, no bearer values. */
export function safeText (value: unknown): string {
  const text = typeof value === 'string' ? value : value instanceof Error ? value.message : String(value)
  return text.replace(/\s+/g, ' ').replace(/(bearer|token|assertion)([=:\s"]+)[A-Za-z0-9._~+/-]{16,}/gi, '$1$2[redacted]').trim().slice(0, MAX_TEXT)
}

/**
 * The SDK error reduced to what is safe to keep as `cause`: gaxios errors carry the request
 * (refresh tokens, subject tokens, Authorization headers) and gRPC errors carry metadata.
 */
export function sanitizeCause (err: unknown): Error {
  if (!(err instanceof Error)) return new Error(safeText(err))
  const clean = new Error(safeText(err.message))
  clean.name = err.name
  const source = err as unknown as Record<string, unknown>
  for (const key of ['code', 'status', 'details', 'reason', 'domain'] as const) {
    const value = source[key]
    if (typeof value === 'string' || typeof value === 'number') (clean as unknown as Record<string, unknown>)[key] = typeof value === 'string' ? safeText(value) : value
  }
  const status = (source.response as { status?: unknown } | undefined)?.status
  if (typeof status === 'number') (clean as unknown as Record<string, unknown>).status = status
  clean.stack = `${clean.name}: ${clean.message}`
  return clean
}

interface GrpcLikeError { code?: unknown, details?: unknown, reason?: unknown, message?: string }

function grpcCode (err: unknown): number | undefined {
  const code = (err as GrpcLikeError | undefined)?.code
  return typeof code === 'number' ? code : undefined
}

function grpcDetails (err: unknown): string {
  const e = err as GrpcLikeError | undefined
  if (typeof e?.details === 'string' && e.details.length > 0) return safeText(e.details)
  return safeText(e?.message ?? err)
}

export interface SecretErrorContext {
  alias?: string
  /** the resource name asked for: projects/P/…/secrets/S/versions/V */
  name: string
  where: SecretLocation
  version: string
  identity: Pick<Identity, 'principal' | 'source'>
  endpoint: string
}

/** Classifies an AccessSecretVersion failure (gRPC status code, never the message). */
export function classifySecretError (err: unknown, ctx: SecretErrorContext): CloudSecretsError {
  if (err instanceof CloudSecretsError) return err
  const code = grpcCode(err)
  const details = grpcDetails(err)
  const cause = sanitizeCause(err)
  const principal = ctx.identity.principal
  const who = principal ?? `the ${ctx.identity.source} credential`
  const base = { provider: 'gcp' as const, alias: ctx.alias, secret: ctx.name, principal, cause }
  const { project, secret } = ctx.where
  const location = ctx.where.location !== undefined ? ` --location ${ctx.where.location}` : ''

  switch (code) {
    case GrpcCode.NOT_FOUND: {
      const versionMissing = /secret version/i.test(details) && ctx.version !== 'latest'
      return new CloudSecretsError('NOT_FOUND', `Secret Manager has no ${versionMissing ? `version ${ctx.version} of secret` : 'secret'} ${ctx.where.location !== undefined ? `${secret} in ${ctx.where.location}` : secret} in project ${project} (${details})`, {
        ...base,
        fix: versionMissing
          ? `pin an existing version (list them: gcloud secrets versions list ${secret} --project ${project}${location}), or mark the reference ?optional`
          : `create it (gcloud secrets create ${secret} --project ${project}${ctx.where.location !== undefined ? location : ' --replication-policy automatic'}, then gcloud secrets versions add ${secret} --project ${project}${location} --data-file=FILE), fix the reference (project, location, id), or mark it ?optional`
      })
    }
    case GrpcCode.FAILED_PRECONDITION:
      return new CloudSecretsError('NOT_FOUND', `Secret Manager cannot serve ${ctx.name}: ${details}`, {
        ...base,
        fix: `enable the version (gcloud secrets versions enable VERSION --secret ${secret} --project ${project}${location}), add a new one, or pin another version`
      })
    case GrpcCode.PERMISSION_DENIED: {
      if ((err as GrpcLikeError).reason === 'SERVICE_DISABLED' || /has not been used in project|it is disabled/i.test(details)) {
        return new CloudSecretsError('ACCESS_DENIED', `the Secret Manager API is not enabled for the project serving ${ctx.name} (${details})`, {
          ...base,
          permission: 'serviceusage.services.enable',
          fix: `enable it: gcloud services enable secretmanager.googleapis.com --project ${project}`
        })
      }
      return new CloudSecretsError('ACCESS_DENIED', `${who} may not read secret ${ctx.name} (${ACCESS_PERMISSION} denied; the secret may also not exist)`, {
        ...base,
        permission: SECRET_ACCESSOR_ROLE,
        fix: accessDeniedFix(ctx.where, ctx.identity)
      })
    }
    case GrpcCode.UNAUTHENTICATED:
      return new CloudSecretsError('TOKEN', `Secret Manager rejected the credentials of ${who} for ${ctx.name} (${details})`, {
        ...base,
        fix: tokenFix(ctx.identity.source)
      })
    case GrpcCode.INVALID_ARGUMENT:
      return new CloudSecretsError('CONFIG', `Secret Manager rejected the name ${ctx.name}: ${details}`, {
        ...base,
        fix: 'fix the reference: a secret id, or projects/P/secrets/S[/versions/V] (projects/P/locations/L/secrets/S for regional secrets)'
      })
    case GrpcCode.RESOURCE_EXHAUSTED:
      return new CloudSecretsError('THROTTLED', `Secret Manager throttled reading ${ctx.name} (${details})`, { ...base, retryable: true, retryAfterMs: retryDelayOf(err) })
    case GrpcCode.UNAVAILABLE:
    case GrpcCode.DEADLINE_EXCEEDED:
    case GrpcCode.INTERNAL:
    case GrpcCode.UNKNOWN:
    case GrpcCode.CANCELLED: {
      if (/getting metadata from plugin failed/i.test(details)) {
        // the credential failed while the call was being authorized (token refresh)
        return new CloudSecretsError('TOKEN', `no token for ${who} while reading ${ctx.name}: ${details}`, { ...base, fix: tokenFix(ctx.identity.source) })
      }
      return new CloudSecretsError('UNAVAILABLE', `Secret Manager at ${ctx.endpoint} failed reading ${ctx.name} (gRPC ${code}: ${details})`, { ...base, retryable: code !== GrpcCode.CANCELLED, retryAfterMs: retryDelayOf(err) })
    }
    default: {
      const network = networkErrorCode(err)
      return new CloudSecretsError('UNAVAILABLE', `reading ${ctx.name} from ${ctx.endpoint} failed: ${details}`, { ...base, retryable: network !== undefined })
    }
  }
}

/** What to do when a credential of this source yields no (accepted) token. */
export function tokenFix (source: string): string {
  switch (source) {
    case 'gcp:authorized-user':
      return 'the gcloud application-default login expired or was revoked: run `gcloud auth application-default login` again'
    case 'gcp:service-account-key':
      return 'the key in GOOGLE_APPLICATION_CREDENTIALS was deleted or disabled, its service account was deleted, or the clock is off: create a new key (gcloud iam service-accounts keys create) or, better, attach the service account to the workload and drop the key file'
    case 'gcp:external-account':
      return 'the workload identity pool rejected the exchange: check the subject token file is fresh, the audience names the right pool provider, the provider\'s attribute condition admits this workload, and (with impersonation) that the federated principal has roles/iam.workloadIdentityUser on the service account'
    case 'gcp:impersonated-service-account':
      return 'the source credential needs roles/iam.serviceAccountTokenCreator on the impersonated service account; or run `gcloud auth application-default login --impersonate-service-account EMAIL` again'
    case 'gcp:metadata':
      return 'attach a service account to the workload (Cloud Run --service-account, GKE Workload Identity binding, GCE instance service account with the cloud-platform scope)'
    default:
      return LOGIN_FIX
  }
}

export interface TokenErrorContext {
  /** what asked for a token, e.g. "service-account key /k.json (app@p.iam.gserviceaccount.com)" */
  what: string
  source: string
  principal?: string
  /** the endpoint asked, e.g. https://oauth2.googleapis.com/token */
  endpoint: string
}

/** Classifies a failure to get a token (gaxios / google-auth-library errors). */
export function classifyTokenError (err: unknown, ctx: TokenErrorContext): CloudSecretsError {
  if (err instanceof CloudSecretsError) return err
  const cause = sanitizeCause(err)
  const base = { provider: 'gcp' as const, principal: ctx.principal, cause }
  const network = networkErrorCode(err)
  if (network !== undefined) {
    return new CloudSecretsError('UNAVAILABLE', `could not reach ${ctx.endpoint} for a token for ${ctx.what} (${network})`, { ...base, retryable: true })
  }
  const status = httpStatus(err)
  const reason = oauthReason(err)
  if (status === 429) return new CloudSecretsError('THROTTLED', `${ctx.endpoint} throttled the token request for ${ctx.what}${reason}`, { ...base, retryable: true, retryAfterMs: retryAfterHeader(err) })
  if (status !== undefined && status >= 500) {
    return new CloudSecretsError('UNAVAILABLE', `${ctx.endpoint} failed the token request for ${ctx.what} with HTTP ${status}${reason}`, { ...base, retryable: true, retryAfterMs: retryAfterHeader(err) })
  }
  if (status === 404 && ctx.source === 'gcp:metadata') {
    return new CloudSecretsError('TOKEN', `the metadata server has no service account for this workload (HTTP 404 from ${ctx.endpoint})`, { ...base, fix: tokenFix(ctx.source) })
  }
  if (status === 403 && /iamcredentials/.test(ctx.endpoint)) {
    return new CloudSecretsError('TOKEN', `${ctx.what} may not impersonate ${ctx.principal ?? 'the service account'} (HTTP 403 from ${ctx.endpoint}${reason})`, {
      ...base,
      permission: 'roles/iam.workloadIdentityUser',
      fix: tokenFix(ctx.source)
    })
  }
  const how = status !== undefined ? `HTTP ${status}` : safeText(err)
  return new CloudSecretsError('TOKEN', `${ctx.endpoint} refused a token for ${ctx.what} (${how}${status !== undefined ? reason : ''})`, { ...base, fix: tokenFix(ctx.source) })
}

function httpStatus (err: unknown): number | undefined {
  const e = err as { status?: unknown, response?: { status?: unknown } } | undefined
  const status = e?.response?.status ?? e?.status
  return typeof status === 'number' ? status : undefined
}

/** ": invalid_grant: Token has been expired or revoked." from an OAuth / Google API error body. */
function oauthReason (err: unknown): string {
  const data = (err as { response?: { data?: unknown } } | undefined)?.response?.data
  if (data !== null && typeof data === 'object') {
    const d = data as { error?: unknown, error_description?: unknown }
    if (typeof d.error === 'string') return `: ${safeText(d.error)}${typeof d.error_description === 'string' ? ` (${safeText(d.error_description)})` : ''}`
    const inner = d.error as { message?: unknown, status?: unknown } | undefined
    if (inner !== undefined && typeof inner.message === 'string') return `: ${safeText(inner.status ?? '')} ${safeText(inner.message)}`.replace(/: +/, ': ')
  }
  const message = (err as Error | undefined)?.message
  return typeof message === 'string' && message.length > 0 ? `: ${safeText(message)}` : ''
}

/**
 * gRPC's Retry-After: a google.rpc.RetryInfo in the status details, which google-gax decodes
 * into `statusDetails` (`retryDelay: { seconds, nanos }`, seconds possibly a Long).
 */
export function retryDelayOf (err: unknown): number | undefined {
  const details = (err as { statusDetails?: unknown } | undefined)?.statusDetails
  if (!Array.isArray(details)) return undefined
  for (const detail of details) {
    const delay = (detail as { retryDelay?: { seconds?: unknown, nanos?: unknown } | null } | null)?.retryDelay
    if (delay === undefined || delay === null) continue
    const ms = Number(delay.seconds ?? 0) * 1000 + Number(delay.nanos ?? 0) / 1e6
    if (Number.isFinite(ms) && ms >= 0) return Math.round(ms)
  }
  return undefined
}

/** Retry-After of a gaxios error's response (a fetch Headers object, or a plain record in older gaxios). */
export function retryAfterHeader (err: unknown): number | undefined {
  const headers = (err as { response?: { headers?: unknown } } | undefined)?.response?.headers
  if (headers === undefined || headers === null || typeof headers !== 'object') return undefined
  const get = (headers as { get?: unknown }).get
  const value = typeof get === 'function' ? (get as (name: string) => string | null).call(headers, 'retry-after') : (headers as Record<string, unknown>)['retry-after']
  return typeof value === 'string' ? parseRetryAfter(value) : undefined
}

/** The URL a gaxios error was about (token endpoints and metadata URLs hold no secrets), without its query. */
export function endpointOf (err: unknown, fallback: string): string {
  const url = (err as { config?: { url?: unknown } } | undefined)?.config?.url
  if (url === undefined || url === null) return fallback
  try {
    const u = new URL(String(url))
    return `${u.origin}${u.pathname}`
  } catch {
    return fallback
  }
}
