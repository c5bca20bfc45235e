import { randomBytes, randomUUID } from 'node:crypto'
import type http from 'node:http'
import { FakeServer, json, type FakePrincipal, type TokenRegistry } from './common.js'

/** Identities a managed-identity endpoint can hand out: the system-assigned one and user-assigned ones by client id. */
export interface ManagedIdentities {
  system?: FakePrincipal
  user?: Map<string, FakePrincipal>
}

function pick (ids: ManagedIdentities, clientId: string | null): FakePrincipal | undefined {
  if (clientId !== null) return ids.user?.get(clientId)
  return ids.system
}

/**
 * App Service / Functions / Container Apps identity endpoint (IDENTITY_ENDPOINT + IDENTITY_HEADER),
 * api-version 2019-08-01: GET ?api-version=2019-08-01&resource=R[&client_id=C] with X-IDENTITY-HEADER.
 */
export class FakeAppServiceIdentity extends FakeServer {
  /** the value of IDENTITY_HEADER (a secret of the platform) */
  readonly header = randomBytes(16).toString('hex')
  readonly path = '/msi/token'
  /** called with each resource a token is issued for */
  onToken?: (resource: string) => void
  /** resources this tenant does not have (400 AADSTS500011) */
  readonly unknownResources = new Set<string>()
  constructor (readonly tokens: TokenRegistry, readonly identities: ManagedIdentities) { super() }

  get endpoint (): string {
    return `http://127.0.0.1:${this.port}${this.path}`
  }

  /** env vars the platform sets */
  env (): Record<string, string> {
    return { IDENTITY_ENDPOINT: this.endpoint, IDENTITY_HEADER: this.header }
  }

  protected handle (req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    if (url.pathname !== this.path) return json(res, 404, { statusCode: 404, message: 'Not found' })
    if (req.headers['x-identity-header'] !== this.header) return json(res, 401, { statusCode: 401, message: 'Unauthorized: X-IDENTITY-HEADER is missing or wrong', correlationId: randomUUID() })
    if (url.searchParams.get('api-version') !== '2019-08-01') return json(res, 400, { statusCode: 400, message: 'api-version is not supported', correlationId: randomUUID() })
    const resource = url.searchParams.get('resource')
    if (resource === null || resource === '') return json(res, 400, { statusCode: 400, message: 'resource is required', correlationId: randomUUID() })
    const principal = pick(this.identities, url.searchParams.get('client_id'))
    if (principal === undefined) {
      return json(res, 400, { statusCode: 400, message: 'No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId.', correlationId: randomUUID() })
    }
    this.onToken?.(resource)
    if (this.unknownResources.has(resource)) {
      return json(res, 400, { statusCode: 400, message: `AADSTS500011: The resource principal named ${resource} was not found in the tenant named ${principal.tid}. This can happen if the application has not been installed by the administrator of the tenant.`, correlationId: randomUUID() })
    }
    const { token, exp } = this.tokens.mint(principal, resource)
    json(res, 200, { access_token: token, expires_on: String(exp), resource, token_type: 'Bearer', client_id: principal.appid })
  }
}

/** Azure Instance Metadata Service token endpoint (AZURE_POD_IDENTITY_AUTHORITY_HOST points the SDK here). */
export class FakeImds extends FakeServer {
  constructor (readonly tokens: TokenRegistry, readonly identities: ManagedIdentities) { super() }

  get host (): string {
    return `http://127.0.0.1:${this.port}`
  }

  protected handle (req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    if (!/^\/metadata\/identity\/oauth2\/token\/?$/.test(url.pathname)) return json(res, 404, { error: 'not_found', error_description: 'Not found' })
    if (req.headers.metadata !== 'true') return json(res, 400, { error: 'invalid_request', error_description: 'Required metadata header not specified' })
    const resource = url.searchParams.get('resource')
    if (resource === null) return json(res, 400, { error: 'invalid_request', error_description: 'Required query variable \'resource\' is missing' })
    const principal = pick(this.identities, url.searchParams.get('client_id'))
    if (principal === undefined) return json(res, 400, { error: 'invalid_request', error_description: 'Identity not found' })
    const { token, exp } = this.tokens.mint(principal, resource, 86399)
    const now = Math.floor(Date.now() / 1000)
    json(res, 200, { access_token: token, client_id: principal.appid, expires_in: '86399', expires_on: String(exp), ext_expires_in: '86399', not_before: String(now), resource, token_type: 'Bearer' })
  }
}
