import type https from 'node:https'
import type { IncomingHttpHeaders } from 'node:http'
import { randomUUID } from 'node:crypto'
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth'
import type { RequestLifetime } from '../../shared/request-lifetime.js'
import { headerOf, httpsRequest, type HttpsAnswer } from '../../shared/https-request.js'

/**
 * The startup reads: Key Vault's Get Secret over node:https, the wire of @azure/keyvault-secrets
 * (api-version, path, headers) and its challenge authentication (keyvault-common's policy: the
 * first request goes without a token, its 401 names the resource and tenant; the scope must be a
 * parent domain of the vault host; a CAE `insufficient_claims` 401 gets one retry with the
 * claims). Loading the SDK and its pipeline is ~70 ms of a cold start and a few ms of CPU per
 * request on 2 cores; this is neither. The SDK's SecretClient is still what the app gets
 * (`app.cloud.azure.secretClient()`), built on first use.
 */

/** the api-version @azure/keyvault-secrets 4.11 sends (its LATEST_API_VERSION) */
export const KEY_VAULT_API_VERSION = '2025-07-01'
/** a secret value is at most 25 KB; an answer far beyond that is not Key Vault's */
const MAX_BODY = 4 * 1024 * 1024
const USER_AGENT = `fastify-cloud-secrets Node/${process.version} OS/${process.platform}`

export interface VaultSecret {
  value?: string
  /** the version id (the last segment of the secret id) */
  version?: string
  /** `attributes.updated`, epoch ms */
  updatedOn?: number
}

/**
 * A Key Vault error answer, shaped as the SDK's RestError (name, message, code, statusCode,
 * `details` = the error body, `response.headers.get`) so errors.ts classifies both alike.
 */
export class VaultRestError extends Error {
  readonly statusCode: number
  readonly code?: string
  readonly details?: { error?: { code?: string, message?: string, innererror?: { code?: string } } }
  readonly response: { status: number, headers: { get: (name: string) => string | undefined } }
  constructor (message: string, statusCode: number, headers: IncomingHttpHeaders, details?: VaultRestError['details'], code?: string) {
    super(message)
    this.name = 'RestError'
    this.statusCode = statusCode
    if (code !== undefined) this.code = code
    if (details !== undefined) this.details = details
    this.response = { status: statusCode, headers: { get: (name) => headerOf(headers, name) } }
  }
}

interface Challenge { scopes: string[], tenantId?: string }

/** keyvault-common's parseWWWAuthenticateHeader */
export function parseChallenge (header: string): Record<string, string> {
  const parsed: Record<string, string> = {}
  for (const pair of header.split(/,? +/)) {
    if (!/\w="/.test(pair)) continue
    const [key, ...value] = pair.split('=')
    if (['authorization', 'authorization_url', 'resource', 'scope', 'tenantId', 'claims', 'error'].includes(key)) parsed[key] = value.join('=').slice(1, -1)
  }
  if (parsed.authorization !== undefined) {
    let tenantId: string
    try {
      tenantId = new URL(parsed.authorization).pathname.substring(1)
    } catch {
      throw new Error(`The challenge authorization URI '${parsed.authorization}' is invalid.`)
    }
    if (tenantId !== '') parsed.tenantId = tenantId
  }
  return parsed
}

/** keyvault-common's verifyChallengeResource (the SDK's default: verification on) */
function verifyChallengeResource (scope: string, host: string): void {
  let scopeHost: string
  try {
    scopeHost = new URL(scope).hostname
  } catch {
    throw new Error(`The challenge contains invalid scope '${scope}'`)
  }
  if (!host.endsWith(`.${scopeHost}`)) {
    throw new Error(`The challenge resource '${scopeHost}' does not match the requested domain. Set disableChallengeResourceVerification to true in your client options to disable. See https://aka.ms/azsdk/blog/vault-uri for more information.`)
  }
}

type Answer = HttpsAnswer

export interface VaultReaderInit {
  credential: TokenCredential
  scope: RequestLifetime
  /** the warm keep-alive pool of the vault connections */
  agent: https.Agent
}

export interface VaultReader {
  getSecret: (vaultUrl: string, name: string, version: string | undefined, signal: AbortSignal) => Promise<VaultSecret>
}

export function createVaultReader (init: VaultReaderInit): VaultReader {
  /** per vault host: the challenge once a token was issued for it */
  const challenges = new Map<string, Challenge>()

  const send = async (url: URL, token: string | undefined, signal: AbortSignal): Promise<Answer> => {
    const headers: Record<string, string> = { accept: 'application/json', 'x-ms-client-request-id': randomUUID(), 'user-agent': USER_AGENT }
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    return await httpsRequest(url, { method: 'GET', headers, agent: init.agent, signal, lifetime: init.scope, maxBody: MAX_BODY })
  }

  const tokenFor = async (challenge: Challenge, signal: AbortSignal, claims?: string): Promise<AccessToken | null> => {
    const options: GetTokenOptions = { abortSignal: signal, enableCae: true, tenantId: challenge.tenantId }
    if (claims !== undefined) options.claims = claims
    return await init.credential.getToken(challenge.scopes, options)
  }

  const getSecret = async (vaultUrl: string, name: string, version: string | undefined, signal: AbortSignal): Promise<VaultSecret> => {
    const url = new URL(`${vaultUrl.replace(/\/+$/, '')}/secrets/${encodeURIComponent(name)}/${encodeURIComponent(version ?? '')}`)
    url.searchParams.set('api-version', KEY_VAULT_API_VERSION)
    const host = url.hostname.toLowerCase()
    let challenge = challenges.get(host)
    let token = challenge === undefined ? undefined : (await tokenFor(challenge, signal))?.token
    let answer = await send(url, token, signal)
    const header = (): string | undefined => headerOf(answer.headers, 'www-authenticate')
    // a 401 with a challenge: take its resource and tenant, get a token, send again (once)
    if (answer.status === 401 && header() !== undefined) {
      const parsed = parseChallenge(header() as string)
      const scope = parsed.resource !== undefined ? `${parsed.resource}/.default` : parsed.scope
      if (scope !== undefined) {
        verifyChallengeResource(scope, host)
        const next: Challenge = { scopes: [scope], tenantId: parsed.tenantId }
        const issued = await tokenFor(next, signal)
        if (issued !== null) {
          challenge = next
          challenges.set(host, next)
          token = issued.token
          answer = await send(url, token, signal)
        }
      }
    }
    // continuous access evaluation: the token lacks claims the vault now asks for
    if (answer.status === 401 && challenge !== undefined && header() !== undefined) {
      const { claims, error } = parseChallenge(header() as string)
      if (error === 'insufficient_claims' && claims !== undefined) {
        const issued = await tokenFor(challenge, signal, Buffer.from(claims, 'base64').toString('utf8'))
        if (issued !== null) answer = await send(url, issued.token, signal)
      }
    }
    if (answer.status !== 200) throw errorOf(answer)
    let bundle: { value?: unknown, id?: unknown, attributes?: { updated?: unknown } }
    try {
      bundle = JSON.parse(answer.body.toString('utf8'))
    } catch {
      // the body is (most likely) the secret: it is never quoted
      throw Object.assign(new VaultRestError('the response could not be parsed as JSON', answer.status, answer.headers), { code: 'PARSE_ERROR' })
    }
    const id = typeof bundle?.id === 'string' ? bundle.id : undefined
    const updated = bundle?.attributes?.updated
    return {
      value: typeof bundle?.value === 'string' ? bundle.value : undefined,
      version: id !== undefined ? versionOf(id) : undefined,
      // Key Vault's attributes are Unix seconds
      updatedOn: typeof updated === 'number' ? updated * 1000 : undefined
    }
  }

  return { getSecret }
}

/** the version segment of https://VAULT/secrets/NAME/VERSION */
function versionOf (id: string): string | undefined {
  try {
    const parts = new URL(id).pathname.split('/').filter((p) => p !== '')
    return parts.length >= 3 ? parts[2] : undefined
  } catch {
    return undefined
  }
}

function errorOf (answer: Answer): VaultRestError {
  let details: VaultRestError['details']
  try {
    const body = JSON.parse(answer.body.toString('utf8')) as VaultRestError['details']
    if (body !== null && typeof body === 'object') details = body
  } catch {}
  const error = details?.error
  const message = typeof error?.message === 'string' ? error.message : `Operation returned an invalid status code '${answer.status}'`
  return new VaultRestError(message, answer.status, answer.headers, details, typeof error?.code === 'string' ? error.code : undefined)
}
