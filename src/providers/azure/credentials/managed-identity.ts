import http from 'node:http'
import https from 'node:https'
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth'
import type { Env } from '../../../shared/env.js'
import type { RequestLifetime } from '../../../shared/request-lifetime.js'
import { nonEmpty } from '../../../shared/env.js'
import type { ManagedIdentityKind } from '../types.js'
import { SourceUnavailableError } from './unavailable.js'

// Managed identity spoken directly for the two endpoints nearly every Azure compute uses (App
// Service style and IMDS): MSAL pins the first source it sees (and its HTTP client) for the whole
// process, and ignores abort. The other kinds go through @azure/identity (see chain.ts).

export const IMDS_HOST = 'http://169.254.169.254'
export const IMDS_TOKEN_PATH = '/metadata/identity/oauth2/token'

/** Which managed-identity endpoint the platform's env vars point at, as the SDK picks it. */
export function managedIdentityEndpoint (env: Env): { kind: ManagedIdentityKind, where: string } {
  if (nonEmpty(env.IDENTITY_ENDPOINT) && nonEmpty(env.IDENTITY_HEADER) && nonEmpty(env.IDENTITY_SERVER_THUMBPRINT)) return { kind: 'service-fabric', where: env.IDENTITY_ENDPOINT }
  if (nonEmpty(env.IDENTITY_ENDPOINT) && nonEmpty(env.IMDS_ENDPOINT)) return { kind: 'arc', where: env.IDENTITY_ENDPOINT }
  if (nonEmpty(env.IDENTITY_ENDPOINT) && nonEmpty(env.IDENTITY_HEADER)) return { kind: 'app-service', where: env.IDENTITY_ENDPOINT }
  if (nonEmpty(env.MSI_ENDPOINT)) return { kind: 'cloud-shell', where: env.MSI_ENDPOINT }
  return { kind: 'imds', where: nonEmpty(env.AZURE_POD_IDENTITY_AUTHORITY_HOST) ? env.AZURE_POD_IDENTITY_AUTHORITY_HOST : IMDS_HOST }
}

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
    if (list.length !== 1) throw new SourceUnavailableError('ManagedIdentityCredential: multiple scopes are not supported')
    const resource = list[0].replace(/\/\.default$/, '')
    const cached = this.cache.get(resource)
    if (cached !== undefined && cached.expiresOnTimestamp - Date.now() > 5 * 60_000) return cached
    const { kind, clientId } = this.init
    if (kind === 'imds' && this.init.probe === true && !this.probed) {
      if (!await this.probeImds(options.abortSignal)) throw new SourceUnavailableError('ManagedIdentityCredential: Attempted to use the IMDS endpoint, but it is not available.')
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
