import { CloudSecretsError, type CredentialAttempt, type ErrorKind } from '../../errors.js'
import type { SecretReference } from '../../reference.js'
import { networkErrorCode, parseRetryAfter } from '../../retry.js'
import type { Identity } from '../../types.js'
import { attachPolicyCommand, BATCH_GET_SECRET_VALUE, GET_SECRET_VALUE, KMS_DECRYPT, secretRegion, secretsPolicy, targetOf } from './grant.js'

// Classification of AWS SDK errors, always by `err.name` (or the batch item's ErrorCode),
// never by HTTP status: a fake may answer 400 where AWS answers 404.

export const NOT_FOUND_NAMES = new Set(['ResourceNotFoundException'])
export const ACCESS_DENIED_NAMES = new Set(['AccessDeniedException', 'AccessDenied'])
export const DECRYPT_NAMES = new Set(['DecryptionFailure'])
export const THROTTLE_NAMES = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded', 'SlowDown'])
export const SERVER_NAMES = new Set(['InternalServiceError', 'InternalServiceErrorException', 'InternalFailure', 'ServiceUnavailable', 'ServiceUnavailableException', 'InternalError'])
export const TOKEN_NAMES = new Set(['UnrecognizedClientException', 'InvalidSignatureException', 'ExpiredTokenException', 'ExpiredToken', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'IncompleteSignature', 'InvalidIdentityToken', 'InvalidIdentityTokenException', 'IDPRejectedClaim', 'IDPRejectedClaimException', 'IDPCommunicationError', 'IDPCommunicationErrorException', 'UnauthorizedException', 'RegionDisabledException', 'MissingAuthenticationToken'])
const TIMEOUT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException'])

/** What a call was doing, so the error can name the secret, the principal and the fix. */
export interface AwsCallContext {
  /** every AWS reference of this app, for a least-privilege policy covering all of them */
  refs: readonly SecretReference[]
  identity: Pick<Identity, 'principal' | 'account' | 'region' | 'source'> & { details?: Identity['details'] }
  action: string
  secret?: string
  /** the ids of a batch call */
  batch?: readonly string[]
  version?: string
  stage?: string
  /** the AWS CLI profile in use, for `aws sso login --profile …` */
  profile?: string
  /** the service called (default "Secrets Manager") and the endpoint host it went to, for network failures */
  service?: string
  endpoint?: string
}

interface SdkErrorShape {
  name?: string
  message?: string
  code?: string
  $fault?: string
  $metadata?: { httpStatusCode?: number, requestId?: string, clockSkewCorrected?: boolean }
  $response?: { headers?: Record<string, string | undefined> }
}

/**
 * A copy of an SDK error that is safe to inspect and serialize: name, message, code, request id
 * and HTTP status. The original can carry the raw HTTP response (`$response`) and, through its
 * causes, request objects; none of that reaches logs or `errorText(err)`.
 */
export class AwsSdkError extends Error {
  readonly code?: string
  readonly requestId?: string
  readonly httpStatusCode?: number
  constructor (err: unknown) {
    const e = (err ?? {}) as SdkErrorShape
    super(typeof e.message === 'string' ? e.message : String(err))
    this.name = typeof e.name === 'string' ? e.name : 'Error'
    if (typeof e.code === 'string') this.code = e.code
    if (e.$metadata?.requestId !== undefined) this.requestId = e.$metadata.requestId
    if (e.$metadata?.httpStatusCode !== undefined) this.httpStatusCode = e.$metadata.httpStatusCode
    const network = networkErrorCode(err)
    if (network !== undefined && this.code === undefined) this.code = network
    this.stack = `${this.name}: ${this.message}`
  }
}

export function safeCause (err: unknown): AwsSdkError {
  return err instanceof AwsSdkError ? err : new AwsSdkError(err)
}

export function errorName (err: unknown): string {
  const name = (err as SdkErrorShape | undefined)?.name
  return typeof name === 'string' ? name : 'Error'
}

function awsMessage (err: unknown): string {
  const message = (err as SdkErrorShape | undefined)?.message
  return typeof message === 'string' && message.length > 0 ? message.split('\n')[0].slice(0, 500) : errorName(err)
}

function retryAfterOf (err: unknown): number | undefined {
  const headers = (err as SdkErrorShape | undefined)?.$response?.headers
  return parseRetryAfter(headers?.['retry-after'] ?? headers?.['Retry-After'])
}

function describeSecret (ctx: AwsCallContext): string {
  if (ctx.batch !== undefined && ctx.secret === undefined) return `secrets ${ctx.batch.map((id) => `"${id}"`).join(', ')}`
  if (ctx.secret === undefined) return 'Secrets Manager'
  const pin = ctx.version !== undefined ? ` version ${ctx.version}` : ctx.stage !== undefined ? ` stage ${ctx.stage}` : ''
  return `secret "${ctx.secret}"${pin}`
}

function who (ctx: AwsCallContext): string {
  return ctx.identity.principal ?? 'the current AWS identity'
}

/** The fix for a rejected or expired credential, by where it came from. */
export function tokenFix (source: string | undefined, profile: string | undefined): string {
  const p = profile ?? 'default'
  switch (source) {
    case 'aws:sso': return `the SSO session expired or was revoked: run \`aws sso login --profile ${p}\` and start again`
    case 'aws:env': return 'AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN are invalid or expired: export fresh credentials (or unset them and use a profile)'
    case 'aws:profile': return `the keys of profile "${p}" are invalid or expired: run \`aws configure --profile ${p}\` with a valid access key (or \`aws sso login --profile ${p}\` for an SSO profile)`
    case 'aws:process': return `the credential_process of profile "${p}" returned invalid credentials: run it by hand and check its output`
    case 'aws:web-identity': return 'the web identity token was rejected: check the role\'s trust policy (OIDC provider, audience sts.amazonaws.com, service account subject) and AWS_ROLE_ARN'
    case 'aws:container': return 'the container credentials were rejected: check the task role (ECS) or the Pod Identity association (EKS)'
    case 'aws:imds': return 'the instance profile credentials were rejected: check the instance profile attached to this EC2 instance'
    default: return 'refresh the credentials (aws sso login / aws configure) and start again'
  }
}

/** ACCESS_DENIED for Secrets Manager, with the exact policy for every configured secret. */
export function accessDenied (ctx: AwsCallContext, detail: string, cause?: unknown): CloudSecretsError {
  const policy = secretsPolicy(ctx.refs, targetOf(ctx.identity))
  const attach = attachPolicyCommand(ctx.identity.principal)
  const batch = ctx.action === BATCH_GET_SECRET_VALUE
  const fix = `grant ${ctx.action}${batch ? ` (and ${GET_SECRET_VALUE} on each secret)` : ''} to ${who(ctx)}. Least-privilege policy for the configured secrets:\n${JSON.stringify(policy, null, 2)}\nattach it with: ${attach}` +
    '\n(if the policy is already attached, look for an explicit Deny in the secret\'s resource policy, a permissions boundary or an SCP)'
  return new CloudSecretsError('ACCESS_DENIED', `${who(ctx)} is not allowed ${ctx.action} on ${describeSecret(ctx)} (AWS: ${detail})`, {
    provider: 'aws',
    secret: ctx.secret,
    principal: ctx.identity.principal,
    permission: ctx.action,
    fix,
    cause: cause === undefined ? undefined : safeCause(cause)
  })
}

const KMS_ARN = /arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(?:key|alias)\/[A-Za-z0-9/_-]+/

/** DecryptionFailure: the principal may read the secret but not decrypt it with its KMS key. */
export function decryptDenied (ctx: AwsCallContext, detail: string, cause?: unknown): CloudSecretsError {
  const key = KMS_ARN.exec(detail)?.[0]
  const region = secretRegion(ctx.secret ?? '', ctx.identity.region) ?? 'REGION'
  const keyText = key ?? 'the secret\'s KMS key'
  const policy = secretsPolicy(ctx.refs, targetOf(ctx.identity, [key ?? 'KEY_ID']))
  const find = key === undefined ? `\nfind the key with: aws secretsmanager describe-secret --secret-id ${ctx.secret ?? 'SECRET'} --region ${region} --query KmsKeyId` : ''
  return new CloudSecretsError('ACCESS_DENIED', `${who(ctx)} cannot decrypt ${describeSecret(ctx)}: ${KMS_DECRYPT} on ${keyText} is not allowed (AWS: ${detail})`, {
    provider: 'aws',
    secret: ctx.secret,
    principal: ctx.identity.principal,
    permission: KMS_DECRYPT,
    fix: `allow ${KMS_DECRYPT} on ${keyText} for ${who(ctx)} (in its IAM policy and, for a customer managed key, in the key policy).${find}\nLeast-privilege policy:\n${JSON.stringify(policy, null, 2)}\nattach it with: ${attachPolicyCommand(ctx.identity.principal)}`,
    cause: cause === undefined ? undefined : safeCause(cause)
  })
}

export function notFound (ctx: AwsCallContext, detail: string, cause?: unknown): CloudSecretsError {
  const region = secretRegion(ctx.secret ?? '', ctx.identity.region) ?? 'the configured region'
  const pinned = ctx.version !== undefined || ctx.stage !== undefined
  const fix = pinned
    ? `check the ${ctx.version !== undefined ? 'VersionId' : 'staging label'} with \`aws secretsmanager list-secret-version-ids --secret-id ${ctx.secret ?? 'SECRET'} --region ${region}\`, fix the reference, or mark it ?optional`
    : (ctx.secret ?? '').startsWith('arn:')
        // create-secret takes a name, and a re-created secret gets a new ARN suffix
        ? `check the ARN with \`aws secretsmanager describe-secret --secret-id ${ctx.secret ?? 'ARN'} --region ${region}\`; a full ARN names one secret of one account and region (${region}): if the secret was deleted and created again its ARN changed, so reference it by name (${arnSecretName(ctx.secret ?? '')}) or by its new ARN, or mark the reference ?optional`
        : `create it (\`aws secretsmanager create-secret --name ${ctx.secret ?? 'NAME'} --region ${region} --secret-string …\`), check the name and the region (${region}${ctx.identity.account !== undefined ? `, account ${ctx.identity.account}` : ''}), or mark the reference ?optional`
  return new CloudSecretsError('NOT_FOUND', `${describeSecret(ctx)} was not found in Secrets Manager (region ${region}) (AWS: ${detail})`, {
    provider: 'aws',
    secret: ctx.secret,
    principal: ctx.identity.principal,
    fix,
    cause: cause === undefined ? undefined : safeCause(cause)
  })
}

/** `prod/db` from `arn:aws:secretsmanager:R:A:secret:prod/db-AbCdEf` (the six-character suffix dropped) */
function arnSecretName (arn: string): string {
  return (/:secret:(.+)$/.exec(arn)?.[1] ?? arn).replace(/-[A-Za-z0-9]{6}$/, '')
}

/** A secret scheduled for deletion: it exists, so create-secret fails; restore-secret brings it back. */
export function pendingDeletion (ctx: AwsCallContext, detail: string, cause?: unknown): CloudSecretsError {
  const id = ctx.secret ?? 'SECRET'
  const region = secretRegion(id, ctx.identity.region)
  return new CloudSecretsError('NOT_FOUND', `${describeSecret(ctx)} is scheduled for deletion in Secrets Manager (region ${region ?? 'unknown'}) (AWS: ${detail})`, {
    provider: 'aws',
    secret: ctx.secret,
    principal: ctx.identity.principal,
    fix: `restore it: \`aws secretsmanager restore-secret --secret-id ${id}${region !== undefined ? ` --region ${region}` : ''}\` (needs secretsmanager:RestoreSecret), or point the reference at another secret, or mark it ?optional`,
    cause: cause === undefined ? undefined : safeCause(cause)
  })
}

/** "marked for deletion", "scheduled for deletion", "marked deleted", "pending deletion"… */
const DELETION_TEXT = /\b(?:delet(?:e|ed|ion|ing))\b/i

function transient (kind: ErrorKind, ctx: AwsCallContext, what: string, cause: unknown, retryAfterMs?: number): CloudSecretsError {
  const fix = kind === 'THROTTLED'
    ? 'Secrets Manager throttled the calls until the startup deadline: fewer instances booting at once, fewer secrets per app, or a larger CLOUD_SECRETS_TIMEOUT_MS'
    : `check network access from this host to ${ctx.endpoint ?? `the AWS endpoint for ${ctx.action}`} (${ctx.service ?? 'Secrets Manager'}, region ${ctx.identity.region ?? 'unknown'}; VPC endpoint / NAT / proxy, AWS_ENDPOINT_URL*) and the AWS Health Dashboard`
  const target = ctx.service !== undefined && ctx.secret === undefined && ctx.batch === undefined ? ctx.service : describeSecret(ctx)
  const at = ctx.endpoint === undefined ? '' : target === ctx.service ? ` at ${ctx.endpoint}` : ` (endpoint ${ctx.endpoint})`
  return new CloudSecretsError(kind, target === ctx.service ? `${ctx.action} on ${target}${at} failed: ${what}` : `${ctx.action} on ${target} failed: ${what}${at}`, {
    provider: 'aws',
    secret: ctx.secret,
    principal: ctx.identity.principal,
    retryable: true,
    retryAfterMs,
    fix,
    cause: safeCause(cause)
  })
}

/** Classifies any error of a Secrets Manager or STS call. */
export function classifyAwsError (err: unknown, ctx: AwsCallContext): CloudSecretsError {
  if (err instanceof CloudSecretsError) return err
  const name = errorName(err)
  const detail = awsMessage(err)
  if ((name === 'InvalidRequestException' || NOT_FOUND_NAMES.has(name)) && DELETION_TEXT.test(detail)) return pendingDeletion(ctx, detail, err)
  if (NOT_FOUND_NAMES.has(name)) return notFound(ctx, detail, err)
  if (ACCESS_DENIED_NAMES.has(name)) return accessDenied(ctx, detail, err)
  if (DECRYPT_NAMES.has(name)) return decryptDenied(ctx, detail, err)
  if (THROTTLE_NAMES.has(name)) return transient('THROTTLED', ctx, `throttled (${name})`, err, retryAfterOf(err))
  // a host clock off by more than AWS allows: the SDK has just set its clock offset from the
  // answer's Date header (it would retry itself, but the plugin owns retries), so the next
  // attempt is signed with the corrected time
  if ((err as SdkErrorShape)?.$metadata?.clockSkewCorrected === true) return transient('UNAVAILABLE', ctx, `the request was signed with a skewed clock (${name}); the SDK corrected its clock offset`, err)
  if (TOKEN_NAMES.has(name)) {
    return new CloudSecretsError('TOKEN', `AWS rejected the credentials of ${who(ctx)} (source ${ctx.identity.source ?? 'unknown'}) for ${ctx.action}: ${name}: ${detail}`, {
      provider: 'aws',
      secret: ctx.secret,
      principal: ctx.identity.principal,
      fix: tokenFix(ctx.identity.source, ctx.profile),
      cause: safeCause(err)
    })
  }
  const network = networkErrorCode(err)
  if (SERVER_NAMES.has(name) || (err as SdkErrorShape)?.$fault === 'server') return transient('UNAVAILABLE', ctx, `the service answered ${name}`, err, retryAfterOf(err))
  if (network !== undefined || TIMEOUT_NAMES.has(name)) return transient('UNAVAILABLE', ctx, `network error ${network ?? name}`, err)
  const status = (err as SdkErrorShape)?.$metadata?.httpStatusCode
  if (status !== undefined && status >= 500) return transient('UNAVAILABLE', ctx, `the service answered HTTP ${status} (${name})`, err, retryAfterOf(err))
  if (status === undefined || status < 400) {
    // an answer that is no AWS error at all (a 200 with a body that does not parse, HTML…)
    return new CloudSecretsError('UNAVAILABLE', `${ctx.action} on ${describeSecret(ctx)} failed: ${name}: ${detail}`, {
      provider: 'aws',
      secret: ctx.secret,
      principal: ctx.identity.principal,
      fix: `the endpoint${ctx.endpoint !== undefined ? ` ${ctx.endpoint}` : ''} did not answer as Secrets Manager does: check AWS_ENDPOINT_URL* and any proxy in between; check the reference and the region`,
      cause: safeCause(err)
    })
  }
  // a 4xx the service answered on purpose (InvalidRequestException, ValidationException…): one
  // attempt, and it says so, instead of the "kept failing until the deadline" of a 5xx
  return new CloudSecretsError('REJECTED', `${ctx.service ?? 'Secrets Manager'} rejected ${ctx.action} on ${describeSecret(ctx)} as invalid (${name}${status !== undefined ? `, HTTP ${status}` : ''}; not retried): ${detail}`, {
    provider: 'aws',
    secret: ctx.secret,
    principal: ctx.identity.principal,
    fix: `check the reference as written and its region (${ctx.identity.region ?? 'unknown'}): \`aws secretsmanager describe-secret --secret-id ${ctx.secret ?? 'SECRET'}${ctx.identity.region !== undefined ? ` --region ${secretRegion(ctx.secret ?? '', ctx.identity.region) ?? ctx.identity.region}` : ''}\``,
    cause: safeCause(err)
  })
}

/** Classifies one entry of BatchGetSecretValue's `Errors` array (nothing was thrown). */
export function classifyBatchItem (item: { ErrorCode?: string, Message?: string }, ctx: AwsCallContext): CloudSecretsError {
  const name = item.ErrorCode ?? 'Error'
  const detail = item.Message ?? name
  return classifyAwsError(Object.assign(new Error(detail), { name }), { ...ctx, action: ctx.action === BATCH_GET_SECRET_VALUE ? GET_SECRET_VALUE : ctx.action })
}

/** NO_CREDENTIALS with every source tried and the fix for a laptop and for AWS. */
export function noCredentials (summary: string, attempts: CredentialAttempt[], profile: string | undefined, cause?: unknown): CloudSecretsError {
  const p = profile ?? 'default'
  const lines = attempts.map((a) => `  - ${a.source}: ${a.outcome} — ${a.reason}`).join('\n')
  return new CloudSecretsError('NO_CREDENTIALS', `${summary}\nCredential sources tried, in the SDK's order:\n${lines}`, {
    provider: 'aws',
    attempts,
    fix: `on a laptop: \`aws sso login --profile ${p}\` (set it up once with \`aws configure sso --profile ${p}\`), or \`aws configure\` for access keys; then start with AWS_PROFILE=${p}. ` +
      'On AWS: give the workload a role — ECS task role, EKS IRSA or Pod Identity, Lambda execution role, EC2 instance profile (see the README, AWS section)',
    cause: cause === undefined ? undefined : safeCause(cause)
  })
}
