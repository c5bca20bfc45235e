import { CloudSecretsError, type CredentialAttempt } from '../../errors.js'
import { networkErrorCode, parseRetryAfter } from '../../retry.js'
import type { Identity } from '../../types.js'
import {
  SECRETS_USER_ROLE, accessPolicyCommand, enableSecretCommand, grantPrincipal, roleAssignmentCommand,
  secretRoleAssignmentCommand, vaultName
} from './grant.js'
import type { ChainLink } from './types.js'

const JWT = /eyJ[\w-]{2,}\.[\w-]{2,}\.[\w-]*/g
const BEARER = /(bearer\s+)[\w.~+/-]{8,}=*/gi

/** Values that must never appear in an error: set by the provider from the env (client secret, identity header). */
const sensitive = new Set<string>()
export function registerSensitive (...values: Array<string | undefined>): void {
  for (const v of values) if (v !== undefined && v.length >= 6) sensitive.add(v)
}

/** Removes anything that looks like a token or a registered secret from text taken from an SDK error. */
export function scrub (text: string): string {
  let out = text.replace(JWT, '[token]').replace(BEARER, '$1[token]')
  for (const s of sensitive) out = out.split(s).join('[redacted]')
  return out
}

/**
 * A copy of an SDK error with only safe, useful fields (name, message, code, status, request id).
 * SDK errors carry the request and response objects, and so the Authorization header: those are
 * dropped, so inspect(err) and pino never reach them.
 */
export class AzureSdkError extends Error {
  readonly code?: string
  readonly statusCode?: number
  readonly requestId?: string
  constructor (source: Error & { code?: unknown, statusCode?: unknown, status?: unknown, errorCode?: unknown }, depth = 0) {
    const inner = (source as { cause?: unknown }).cause
    super(scrub(safeMessage(source)).slice(0, 2000), inner instanceof Error && depth < 3 && !isParseError(source) ? { cause: new AzureSdkError(inner, depth + 1) } : undefined)
    this.name = typeof source.name === 'string' ? source.name : 'Error'
    const code = source.code ?? source.errorCode
    if (typeof code === 'string' || typeof code === 'number') this.code = String(code)
    const status = statusOf(source)
    if (status !== undefined) this.statusCode = status
    const headers = (source as { response?: { headers?: { get?: (n: string) => string | undefined } } }).response?.headers
    const requestId = typeof headers?.get === 'function' ? headers.get('x-ms-request-id') : undefined
    if (requestId !== undefined) this.requestId = requestId
    this.stack = `${this.name}: ${this.message}`
  }
}

/**
 * core-client's deserialization error quotes the whole response body ("Error "SyntaxError: …"
 * occurred while parsing the response body - <body>"), and V8's SyntaxError quotes it too: for a
 * Key Vault answer that body is the secret. Such a message is replaced, never repeated.
 */
function isParseError (err: unknown): boolean {
  const e = err as { code?: unknown, message?: unknown, name?: unknown } | undefined
  return e?.code === 'PARSE_ERROR' || e?.name === 'SyntaxError' || /occurred while parsing the response body/.test(String(e?.message))
}

function safeMessage (err: unknown): string {
  if (isParseError(err)) {
    const status = statusOf(err)
    return `the response${status !== undefined ? ` (HTTP ${status})` : ''} could not be parsed as JSON; its body is not repeated here because it may hold a secret`
  }
  return String((err as Error)?.message ?? '')
}

export function sanitize (err: unknown): unknown {
  if (err instanceof AzureSdkError || err instanceof CloudSecretsError) return err
  if (err instanceof Error) return new AzureSdkError(err)
  return err === undefined ? undefined : new Error(scrub(String(err)).slice(0, 500))
}

function statusOf (err: unknown): number | undefined {
  const e = err as { statusCode?: unknown, status?: unknown, httpStatusCode?: unknown }
  for (const v of [e.statusCode, e.status, e.httpStatusCode]) if (typeof v === 'number' && v >= 100 && v < 600) return v
  return undefined
}

/** Walks `cause` links (SDK errors wrap each other) looking for an HTTP status. */
export function statusInChain (err: unknown): number | undefined {
  for (let e: unknown = err, i = 0; e !== null && typeof e === 'object' && i < 6; e = (e as { cause?: unknown }).cause, i++) {
    const s = statusOf(e)
    if (s !== undefined) return s
    const m = /\bstatus(?:Code)?[ :=]+([1-5]\d\d)\b|\bHTTP (?:status )?([1-5]\d\d)\b/i.exec(String((e as Error).message))
    if (m !== null) return Number(m[1] ?? m[2])
  }
  return undefined
}

function firstLine (text: string, max = 300): string {
  const line = text.split(/\r?\n/).map((l) => l.trim()).find((l) => l.length > 0) ?? ''
  return scrub(line).slice(0, max)
}

function deepestMessage (err: unknown): string {
  let message = String((err as Error)?.message ?? err)
  for (let e: unknown = (err as { cause?: unknown })?.cause, i = 0; e instanceof Error && i < 5; e = (e as { cause?: unknown }).cause, i++) {
    if (e.message.length > 0) message = e.message
  }
  return message
}

// ---------------------------------------------------------------------------------------------
// credentials

export interface CredentialFailure {
  link: ChainLink
  /** nothing to use here (not configured / not logged in / no identity): the chain goes on */
  unavailable: boolean
  /** a configured credential was rejected: DefaultAzureCredential stops here */
  stopsChain: boolean
  reason: string
  cause?: unknown
  /** a transient endpoint failure (5xx, network, 429) rather than a rejected credential */
  transient?: 'UNAVAILABLE' | 'THROTTLED'
}

/** Marks a classified credential error, so the chain can read back its verdict after retries. */
export interface CredentialStepError extends CloudSecretsError { failure?: CredentialFailure }

/**
 * The verdict on one credential's failure, following DefaultAzureCredential: CredentialUnavailable
 * (not configured, CLI not logged in, every managed-identity error) falls through; an
 * authentication error from a configured service principal or workload identity stops the chain.
 * 429, 5xx and network errors of a configured endpoint are retried inside the deadline.
 */
export function classifyCredentialError (link: ChainLink, err: unknown): CredentialStepError {
  if (err instanceof CloudSecretsError) {
    const known = (err as CredentialStepError).failure
    if (known !== undefined) return err
    const inner = classifyCredentialError(link, err.cause)
    const failure: CredentialFailure = { ...(inner.failure as CredentialFailure), reason: err.summary.replace(`${link.credentialName}: `, '') }
    return withFailure(new CloudSecretsError(inner.kind, err.summary, { ...err.details(), retryable: false }), failure)
  }
  const name = (err as Error)?.name
  const message = deepestMessage(err)
  const status = statusInChain(err)
  const network = networkErrorCode(err)
  const retryAfterMs = retryAfterOf(err)
  let unavailable = name === 'CredentialUnavailableError'
  let stopsChain = !unavailable && name !== 'AggregateAuthenticationError'
  let reason: string
  const retryable = (status !== undefined && (status >= 500 || status === 429)) || (network !== undefined && network !== 'ENOTFOUND')

  if (link.source === 'azure:cli' || link.source === 'azure:developer-cli') {
    const cli = err as { notLoggedIn?: boolean, notInstalled?: boolean }
    unavailable = cli.notLoggedIn === true || cli.notInstalled === true
    stopsChain = false
    reason = firstLine(String((err as Error)?.message ?? err))
  } else if (link.source === 'azure:managed-identity') {
    stopsChain = false
    if (/IMDS endpoint, but it is not available/.test(String((err as Error)?.message))) {
      unavailable = true
      reason = `IMDS did not answer at ${link.describe.replace(/^.*IMDS /, '')} (not an Azure VM, or no route to it)`
    } else if (link.miKind === 'imds' && /identity not found|no managed identity|not assigned/i.test(message)) {
      unavailable = true
      reason = `IMDS answered but no managed identity is assigned (${firstLine(message, 160)})`
    } else if (network !== undefined && link.miKind === 'imds') {
      unavailable = true
      reason = `IMDS is not reachable (${network})`
    } else {
      // the platform gave us an endpoint and it failed: a real problem, reported as TOKEN
      unavailable = false
      reason = /answered/.test(message) ? firstLine(message) : `the ${link.miKind === 'imds' ? 'IMDS' : 'managed identity'} endpoint failed${network !== undefined ? ` (${network})` : ''}: ${firstLine(message)}`
    }
  } else if (unavailable) {
    reason = firstLine(message)
  } else {
    // Entra's own sentence (AADSTS7000215: Invalid client secret…) says it best
    const aadsts = /AADSTS\d+:[^\r\n]*/.exec(message)?.[0]?.split(/ Trace ID:| - Correlation ID:| - Timestamp:/)[0]
    const where = status !== undefined ? `HTTP ${status}: ` : network !== undefined ? `${network}: ` : ''
    reason = `${where}${aadsts !== undefined ? scrub(aadsts).slice(0, 400) : firstLine(message)}`
    if (retryable) stopsChain = true
  }
  const transient = unavailable || !retryable ? undefined : status === 429 ? 'THROTTLED' : 'UNAVAILABLE'
  const failure: CredentialFailure = { link, unavailable, stopsChain, reason, cause: err, transient }
  const error = new CloudSecretsError(unavailable ? 'NO_CREDENTIALS' : (transient ?? 'TOKEN'), `${link.credentialName}: ${reason}`, {
    provider: 'azure',
    retryable: !unavailable && retryable,
    retryAfterMs,
    cause: sanitize(err)
  })
  return withFailure(error, failure)
}

function withFailure (error: CloudSecretsError, failure: CredentialFailure): CredentialStepError {
  Object.defineProperty(error, 'failure', { value: failure, enumerable: false })
  return error
}

function retryAfterOf (err: unknown): number | undefined {
  for (let e: unknown = err, i = 0; e !== null && typeof e === 'object' && i < 5; e = (e as { cause?: unknown }).cause, i++) {
    const headers = (e as { response?: { headers?: { get?: (n: string) => string | undefined } } }).response?.headers
    if (typeof headers?.get === 'function') {
      const ms = parseRetryAfter(headers.get('retry-after'))
      if (ms !== undefined) return ms
    }
  }
  return undefined
}

const LOCAL_FIX = 'locally: run `az login` (then `az account set --subscription <subscription-id>` to pick the subscription of the vault), or `azd auth login`'
const AZURE_FIX = 'on Azure: enable a managed identity (App Service / Functions: `az webapp identity assign`; Container Apps: `az containerapp identity assign --system-assigned`; VM: `az vm identity assign`) or AKS workload identity (AZURE_FEDERATED_TOKEN_FILE, AZURE_CLIENT_ID, AZURE_TENANT_ID)'
const SP_FIX = 'or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET for a service principal'

function fixFor (failure: CredentialFailure): string {
  const { link } = failure
  switch (link.source) {
    case 'azure:environment':
      return /7000215|7000222|invalid_client|secret/i.test(failure.reason)
        ? 'AZURE_CLIENT_SECRET is wrong or expired: create a new one (`az ad app credential reset --id <AZURE_CLIENT_ID> --append`) and set it, or unset AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and AZURE_TENANT_ID to use managed identity or `az login`'
        : 'check AZURE_TENANT_ID, AZURE_CLIENT_ID and the secret/certificate of that app registration (`az ad sp show --id <AZURE_CLIENT_ID>`), or unset them to use managed identity or `az login`'
    case 'azure:workload-identity':
      return 'check the federated credential of the app (`az identity federated-credential list --identity-name <identity> --resource-group <rg>`): its issuer must be the cluster\'s OIDC issuer (`az aks show -n <cluster> -g <rg> --query oidcIssuerProfile.issuerUrl`) and its subject system:serviceaccount:<namespace>:<service-account>; AZURE_CLIENT_ID must be that identity\'s client id'
    case 'azure:managed-identity':
      return /No User Assigned|not found|client_id|clientid/i.test(failure.reason)
        ? 'AZURE_CLIENT_ID names a user-assigned identity that is not attached to this resource: attach it (e.g. `az webapp identity assign --identities <identity-resource-id>`) or unset AZURE_CLIENT_ID to use the system-assigned identity'
        : 'the platform\'s managed identity endpoint failed: check that the identity is enabled on this resource (`az webapp identity show` / `az containerapp identity show` / `az vm identity show`) and retry; see the reason above'
    default:
      return `${LOCAL_FIX}; check that \`${link.source === 'azure:cli' ? 'az account get-access-token' : 'azd auth token'}\` works in a terminal`
  }
}

/** The error when no credential produced a token: NO_CREDENTIALS when nothing is usable here, TOKEN when one was rejected. */
export function credentialFailureError (failures: readonly CredentialFailure[], attempts: readonly CredentialAttempt[], scope: string): CloudSecretsError {
  const list = attempts.map((a) => `  - ${a.source} [${a.outcome}]: ${a.reason}`).join('\n')
  const failed = failures.find((f) => f.stopsChain) ?? failures.find((f) => !f.unavailable)
  if (failed === undefined) {
    return new CloudSecretsError('NO_CREDENTIALS', `No Azure credential is available to get a token for ${scope}. Tried, in DefaultAzureCredential order:\n${list}`, {
      provider: 'azure',
      attempts: [...attempts],
      cause: sanitize(failures.at(-1)?.cause),
      fix: `${LOCAL_FIX}; ${AZURE_FIX}; ${SP_FIX}`
    })
  }
  // an endpoint that kept failing (5xx, network, 429) is not a rejected credential: say so
  return new CloudSecretsError(failed.transient ?? 'TOKEN', `Azure credential ${failed.link.source} (${failed.link.describe}) could not get a token for ${scope}: ${failed.reason}\nTried:\n${list}`, {
    provider: 'azure',
    attempts: [...attempts],
    cause: sanitize(failed.cause),
    fix: fixFor(failed)
  })
}

// ---------------------------------------------------------------------------------------------
// Key Vault

export interface VaultCall {
  /** the alias being loaded, when there is one */
  alias?: string
  vaultHost: string
  secret: string
  version?: string
  identity?: Identity
}

function innerCode (err: unknown): string | undefined {
  const details = (err as { details?: { error?: { innerError?: { code?: unknown }, innererror?: { code?: unknown } } } }).details
  const code = details?.error?.innerError?.code ?? details?.error?.innererror?.code
  return typeof code === 'string' ? code : undefined
}

function principalText (identity: Identity | undefined): string {
  if (identity === undefined || identity.principal === undefined) return 'the app\'s identity'
  const d = identity.details ?? {}
  const extra = [d.managedIdentity !== undefined ? `${String(d.managedIdentity)} managed identity` : undefined, typeof d.appId === 'string' ? `app id ${d.appId}` : undefined, typeof d.user === 'string' ? `user ${d.user}` : undefined].filter(Boolean)
  return `principal ${identity.principal}${extra.length > 0 ? ` (${extra.join(', ')})` : ''} via ${identity.source}`
}

/** Key Vault errors: classified by the service's error code (RestError.code / inner error), with the exact fix. */
export function classifyVaultError (err: unknown, call: VaultCall): CloudSecretsError {
  if (err instanceof CloudSecretsError) return err
  const vault = vaultName(call.vaultHost)
  const where = `${call.secret}${call.version !== undefined ? ` (version ${call.version})` : ''} in vault ${vault} (https://${call.vaultHost})`
  const secretId = `https://${call.vaultHost}/secrets/${call.secret}${call.version !== undefined ? `/${call.version}` : ''}`
  const base = { provider: 'azure' as const, alias: call.alias, secret: secretId, principal: call.identity?.principal, cause: sanitize(err) }
  const code = (err as { code?: unknown }).code
  const status = statusOf(err)
  const inner = innerCode(err)
  const message = safeMessage(err)
  const principal = grantPrincipal(call.identity)

  if (code === 'SecretNotFound' || (status === 404 && code !== 'VaultNotFound')) {
    return new CloudSecretsError('NOT_FOUND', `Key Vault secret ${where} does not exist${call.version !== undefined ? ' (or that version does not)' : ''}`, {
      ...base,
      fix: `create it (\`az keyvault secret set --vault-name ${vault} --name ${call.secret} --value …\`), fix the name${call.version !== undefined ? ' or version id' : ''} in the reference, or mark it ?optional; a recently deleted secret can be recovered with \`az keyvault secret recover --vault-name ${vault} --name ${call.secret}\``
    })
  }
  if (inner === 'SecretDisabled' || /disabled secret/i.test(message)) {
    return new CloudSecretsError('ACCESS_DENIED', `Key Vault secret ${where} is disabled: Key Vault refuses to return a disabled secret's value to anyone`, {
      ...base,
      fix: `enable it: \`${enableSecretCommand(vault, call.secret)}\`${call.version !== undefined ? ` --version ${call.version}` : ''}, or point the reference at an enabled version`
    })
  }
  if (status === 403 && (inner === 'ForbiddenByRbac' || /ForbiddenByRbac|role assignments/i.test(message))) {
    return new CloudSecretsError('ACCESS_DENIED', `Key Vault denied ${principalText(call.identity)} reading secret ${where}: the vault uses Azure RBAC and the principal has no role that grants secret read (Microsoft.KeyVault/vaults/secrets/getSecret/action)`, {
      ...base,
      permission: SECRETS_USER_ROLE,
      fix: `assign the role "${SECRETS_USER_ROLE}" on the vault:\n  ${roleAssignmentCommand(principal, vault)}\nor on this secret only:\n  ${secretRoleAssignmentCommand(principal, vault, call.secret)}\n(role assignments can take a few minutes to apply)`
    })
  }
  if (status === 403) {
    return new CloudSecretsError('ACCESS_DENIED', `Key Vault denied ${principalText(call.identity)} reading secret ${where}: the vault uses access policies and none gives this principal secret "get"`, {
      ...base,
      permission: 'secrets/get (access policy)',
      fix: `add an access policy:\n  ${accessPolicyCommand(principal, vault)}\nor move the vault to Azure RBAC and assign "${SECRETS_USER_ROLE}":\n  ${roleAssignmentCommand(principal, vault)}`
    })
  }
  if (status === 401) {
    return new CloudSecretsError('TOKEN', `Key Vault ${vault} rejected the token of ${principalText(call.identity)} while reading ${call.secret}: ${firstLine(message)}`, {
      ...base,
      fix: 'the token was refused after the challenge: check that the vault is in the tenant of this identity (`az keyvault show --name ' + vault + ' --query properties.tenantId`) and that the identity is not disabled; locally, run `az login --tenant <vault tenant>`'
    })
  }
  if (status === 429 || code === 'Throttled') {
    return new CloudSecretsError('THROTTLED', `Key Vault ${vault} is throttling requests (HTTP 429) while reading ${call.secret}`, {
      ...base,
      retryable: true,
      retryAfterMs: retryAfterOf(err),
      fix: 'fewer instances booting at once, or raise CLOUD_SECRETS_TIMEOUT_MS; Key Vault allows about 4000 secret reads per 10 s per vault'
    })
  }
  if (status !== undefined && status >= 500) {
    return new CloudSecretsError('UNAVAILABLE', `Key Vault ${vault} answered HTTP ${status} while reading ${call.secret}: ${firstLine(message)}`, { ...base, retryable: true })
  }
  if (/challenge resource .* does not match/i.test(message)) {
    return new CloudSecretsError('TOKEN', `Key Vault challenge for ${call.vaultHost} named another resource: ${firstLine(message)}`, {
      ...base,
      fix: `the host ${call.vaultHost} did not prove it is a Key Vault of the resource it names; check the vault URL (https://VAULT-NAME.vault.azure.net, or the sovereign-cloud suffix)`
    })
  }
  const network = networkErrorCode(err)
  if (network === 'ENOTFOUND') {
    return new CloudSecretsError('NOT_FOUND', `Key Vault host ${call.vaultHost} does not resolve (no such vault?) while reading ${call.secret}`, {
      ...base,
      fix: `check the vault name: \`az keyvault show --name ${vault}\`; set AZURE_KEYVAULT_URL or the secret URL to the vault's "vaultUri"`
    })
  }
  if (network !== undefined) {
    return new CloudSecretsError('UNAVAILABLE', `Key Vault ${call.vaultHost} could not be reached (${network}) while reading ${call.secret}`, { ...base, retryable: true })
  }
  const name = (err as Error)?.name
  if (name === 'CredentialUnavailableError' || name === 'AuthenticationError' || name === 'AggregateAuthenticationError' || (err as { failure?: unknown })?.failure !== undefined) {
    return new CloudSecretsError('TOKEN', `no token for Key Vault ${vault} while reading ${call.secret}: ${firstLine(message)}`, { ...base })
  }
  return new CloudSecretsError('UNAVAILABLE', `reading Key Vault secret ${where} failed: ${firstLine(message) || String(name)}`, { ...base })
}
