import { randomUUID } from 'node:crypto'
import type http from 'node:http'
import { FakeServer, json, type FakePrincipal, type TokenRegistry } from './common.js'

/** An app registration the fake tenant knows: a client secret, a certificate thumbprint, federated tokens. */
export interface FakeApp {
  principal: FakePrincipal
  secret?: string
  /** base64url SHA-1 or SHA-256 thumbprint of the certificate the app accepts (x5t / x5t#S256) */
  thumbprints?: string[]
  /** federated tokens (the AKS service-account token file's content) that the app trusts */
  federatedTokens?: string[]
}

const AADSTS = (code: number, text: string): string => `AADSTS${code}: ${text}\r\nTrace ID: ${randomUUID()}\r\nCorrelation ID: ${randomUUID()}\r\nTimestamp: ${new Date().toISOString().replace('T', ' ').slice(0, 19)}Z`

/**
 * Entra ID (login.microsoftonline.com) over TLS: instance discovery, OpenID metadata and the v2.0
 * token endpoint for client credentials (secret, certificate assertion, federated assertion).
 */
export class FakeEntra extends FakeServer {
  readonly apps = new Map<string, FakeApp>()
  constructor (readonly tokens: TokenRegistry, readonly tenant: string) { super() }

  addApp (app: FakeApp): void {
    this.apps.set(app.principal.appid as string, app)
  }

  protected override accepts (req: http.IncomingMessage): boolean {
    return req.method === 'POST'
  }

  protected handle (req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: string): void {
    const host = req.headers.host ?? 'login.microsoftonline.com'
    const parts = url.pathname.split('/').filter(Boolean)
    if (req.method === 'GET' && url.pathname === '/common/discovery/instance') {
      const tenant = /microsoftonline\.com\/([^/]+)\//.exec(url.searchParams.get('authorization_endpoint') ?? '')?.[1] ?? this.tenant
      return json(res, 200, {
        tenant_discovery_endpoint: `https://${host}/${tenant}/v2.0/.well-known/openid-configuration`,
        'api-version': '1.1',
        metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }]
      })
    }
    if (req.method === 'GET' && parts[1] === 'v2.0' && parts[2] === '.well-known') {
      const tenant = parts[0]
      return json(res, 200, {
        token_endpoint: `https://${host}/${tenant}/oauth2/v2.0/token`,
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
        jwks_uri: `https://${host}/${tenant}/discovery/v2.0/keys`,
        response_modes_supported: ['query', 'fragment', 'form_post'],
        subject_types_supported: ['pairwise'],
        id_token_signing_alg_values_supported: ['RS256'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
        issuer: `https://${host}/${tenant}/v2.0`,
        request_uri_parameter_supported: false,
        userinfo_endpoint: 'https://graph.microsoft.com/oidc/userinfo',
        authorization_endpoint: `https://${host}/${tenant}/oauth2/v2.0/authorize`,
        device_authorization_endpoint: `https://${host}/${tenant}/oauth2/v2.0/devicecode`,
        http_logout_supported: true,
        frontchannel_logout_supported: true,
        end_session_endpoint: `https://${host}/${tenant}/oauth2/v2.0/logout`,
        claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'oid', 'tid'],
        kerberos_endpoint: `https://${host}/${tenant}/kerberos`,
        tenant_region_scope: 'EU',
        cloud_instance_name: 'microsoftonline.com',
        cloud_graph_host_name: 'graph.windows.net',
        msgraph_host: 'graph.microsoft.com',
        rbac_url: 'https://pas.windows.net'
      })
    }
    if (req.method === 'POST' && parts[1] === 'oauth2' && parts[2] === 'v2.0' && parts[3] === 'token') return this.token(res, parts[0], new URLSearchParams(body))
    json(res, 404, { error: 'not_found', error_description: AADSTS(900561, 'The endpoint only accepts POST requests.') })
  }

  private token (res: http.ServerResponse, tenant: string, form: URLSearchParams): void {
    const fail = (status: number, error: string, code: number, text: string): void => {
      json(res, status, { error, error_description: AADSTS(code, text), error_codes: [code], timestamp: new Date().toISOString(), trace_id: randomUUID(), correlation_id: randomUUID(), error_uri: `https://login.microsoftonline.com/error?code=${code}` })
    }
    if (tenant !== this.tenant) return fail(400, 'invalid_request', 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`)
    if (form.get('grant_type') !== 'client_credentials') return fail(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.')
    const clientId = form.get('client_id') ?? ''
    const app = this.apps.get(clientId)
    if (app === undefined) return fail(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${tenant}'.`)
    const scope = (form.get('scope') ?? '').split(' ').find((s) => s.endsWith('/.default'))
    if (scope === undefined) return fail(400, 'invalid_scope', 1002012, 'The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier.')
    const secret = form.get('client_secret')
    const assertion = form.get('client_assertion')
    if (secret !== null) {
      if (secret !== app.secret) return fail(401, 'invalid_client', 7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`)
    } else if (assertion !== null) {
      if (app.federatedTokens?.includes(assertion) === true) {
        // workload identity: the assertion is the service-account token itself
      } else {
        const header = decodeJwtPart(assertion, 0)
        const thumb = (header?.['x5t#S256'] ?? header?.x5t) as string | undefined
        if (thumb === undefined || app.thumbprints?.includes(thumb) !== true) {
          return fail(401, 'invalid_client', 700213, 'No matching federated identity record found for presented assertion subject. Check your federated identity credential Subject, Audience and Issuer against the presented assertion.')
        }
      }
    } else {
      return fail(401, 'invalid_client', 7000218, 'The request body must contain the following parameter: \'client_assertion\' or \'client_secret\'.')
    }
    const { token } = this.tokens.mint(app.principal, scope, 3599)
    json(res, 200, { token_type: 'Bearer', expires_in: 3599, ext_expires_in: 3599, access_token: token })
  }
}

function decodeJwtPart (jwt: string, index: number): Record<string, unknown> | undefined {
  try {
    return JSON.parse(Buffer.from(jwt.split('.')[index] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>
  } catch {
    return undefined
  }
}
