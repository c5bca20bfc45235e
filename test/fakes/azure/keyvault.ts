import { randomBytes } from 'node:crypto'
import type http from 'node:http'
import { FakeServer, json, type TokenRegistry } from './common.js'

export interface FakeSecretVersion { id: string, value: string, enabled: boolean, created: number, updated?: number }

/** One vault: its secrets (versions newest last), its permission model and who may read. */
export interface FakeVault {
  name: string
  tenant: string
  mode: 'rbac' | 'access-policy'
  /** object ids allowed to read every secret */
  readers: Set<string>
  /** object ids allowed to read one secret (RBAC scope /secrets/NAME) */
  secretReaders: Map<string, Set<string>>
  secrets: Map<string, FakeSecretVersion[]>
}

/**
 * Key Vault data plane over TLS, any vault host (*.vault.azure.net, sovereign suffixes): challenge
 * auth (401 + WWW-Authenticate on the first, token-less request), bearer tokens checked against the
 * registry, RBAC or access-policy denials, disabled secrets and the real error bodies.
 */
export class FakeKeyVault extends FakeServer {
  readonly vaults = new Map<string, FakeVault>()
  /** reads of secret values that succeeded */
  served = 0
  /** pages of secret-property listings served */
  listed = 0
  constructor (readonly tokens: TokenRegistry) { super() }

  /** adds (or returns) vault `name`; its host is NAME.<any vault suffix> */
  vault (name: string, tenant: string, mode: FakeVault['mode'] = 'rbac'): FakeVault {
    let v = this.vaults.get(name)
    if (v === undefined) {
      v = { name, tenant, mode, readers: new Set(), secretReaders: new Map(), secrets: new Map() }
      this.vaults.set(name, v)
    }
    return v
  }

  /** stores a new version of a secret and returns its version id */
  setSecret (vault: FakeVault, name: string, value: string, enabled = true): string {
    const id = randomBytes(16).toString('hex')
    const versions = vault.secrets.get(name) ?? []
    // a new version is newer than the last, even within one second (Key Vault times are seconds)
    const last = versions.at(-1)?.created ?? 0
    versions.push({ id, value, enabled, created: Math.max(Math.floor(Date.now() / 1000), last + 1) })
    vault.secrets.set(name, versions)
    return id
  }

  protected override accepts (req: http.IncomingMessage): boolean {
    // faults hit authenticated requests; the challenge round trip stays normal
    return req.headers.authorization !== undefined
  }

  protected handle (req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase()
    const [name, ...suffix] = host.split('.')
    const resource = `https://${suffix.join('.')}`
    const vault = this.vaults.get(name)
    if (url.searchParams.get('api-version') === null) return json(res, 400, { error: { code: 'MissingApiVersionParameter', message: 'The api-version query parameter (?api-version=) is required for all requests.' } })
    const challenge = (): string => `Bearer authorization="https://login.microsoftonline.com/${vault?.tenant ?? 'common'}", resource="${resource}"`
    const auth = req.headers.authorization
    if (auth === undefined) {
      return json(res, 401, { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } }, { 'www-authenticate': challenge() })
    }
    const token = /^Bearer (.+)$/.exec(auth)?.[1] ?? ''
    const issued = this.tokens.issued.get(token)
    if (issued === undefined || issued.exp * 1000 < Date.now()) {
      return json(res, 401, { error: { code: 'Unauthorized', message: 'AKV10032: Invalid issuer. Expected one of https://sts.windows.net/..., found an unknown issuer.' } }, { 'www-authenticate': challenge() })
    }
    if (issued.aud !== resource) {
      return json(res, 401, { error: { code: 'Unauthorized', message: `AKV10022: Invalid audience. Expected ${resource}, found: ${issued.aud}.` } }, { 'www-authenticate': challenge() })
    }
    if (vault === undefined) return json(res, 404, { error: { code: 'VaultNotFound', message: `Vault ${name} not found` } })
    if (issued.principal.tid !== vault.tenant) {
      return json(res, 401, { error: { code: 'Unauthorized', message: `AKV10032: Invalid issuer. Expected one of https://sts.windows.net/${vault.tenant}/, found https://sts.windows.net/${issued.principal.tid}/.` } }, { 'www-authenticate': challenge() })
    }
    const parts = url.pathname.split('/').filter(Boolean)
    if (req.method === 'GET' && parts.length === 1 && parts[0] === 'secrets') return this.list(res, vault, host, issued.principal.oid, url)
    if (req.method !== 'GET' || parts[0] !== 'secrets' || parts.length < 2 || parts.length > 3) return json(res, 400, { error: { code: 'BadParameter', message: 'The request URI contains an invalid name' } })
    const [, secretName, versionId] = parts
    const oid = issued.principal.oid
    const caller = `appid=${issued.principal.appid ?? ''};oid=${oid};iss=https://sts.windows.net/${issued.principal.tid}/`
    const allowed = vault.readers.has(oid) || (vault.secretReaders.get(secretName)?.has(oid) ?? false)
    if (!allowed) {
      if (vault.mode === 'rbac') {
        return json(res, 403, {
          error: {
            code: 'Forbidden',
            message: `Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: ${caller}\r\nAction: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\nResource: '/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/rg/providers/microsoft.keyvault/vaults/${name}/secrets/${secretName}'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: ${name};location=westeurope\r\n`,
            innererror: { code: 'ForbiddenByRbac' }
          }
        })
      }
      return json(res, 403, {
        error: {
          code: 'Forbidden',
          message: `The user, group or application '${caller}' does not have secrets get permission on key vault '${name};location=westeurope'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287`,
          innererror: { code: 'AccessDenied' }
        }
      })
    }
    const versions = vault.secrets.get(secretName)
    const version = versionId === undefined ? versions?.at(-1) : versions?.find((v) => v.id === versionId)
    if (version === undefined) {
      return json(res, 404, { error: { code: 'SecretNotFound', message: `A secret with (name/id) ${secretName}${versionId !== undefined ? `/${versionId}` : ''} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182` } })
    }
    if (!version.enabled) {
      return json(res, 403, { error: { code: 'Forbidden', message: 'Operation get is not allowed on a disabled secret.', innererror: { code: 'SecretDisabled' } } })
    }
    this.served++
    const updated = version.updated ?? version.created
    json(res, 200, {
      value: version.value,
      id: `https://${host}/secrets/${secretName}/${version.id}`,
      attributes: { enabled: true, created: version.created, updated, recoveryLevel: 'Recoverable+Purgeable', recoverableDays: 90 },
      tags: {}
    })
  }

  /** GET /secrets: the properties of each secret's current version (no values), `maxresults` per page, nextLink paging */
  private list (res: http.ServerResponse, vault: FakeVault, host: string, oid: string, url: URL): void {
    if (!vault.readers.has(oid)) {
      return json(res, 403, { error: { code: 'Forbidden', message: `Caller is not authorized to perform action on resource.\r\nAction: 'Microsoft.KeyVault/vaults/secrets/readMetadata/action'\r\nVault: ${vault.name};location=westeurope\r\n`, innererror: { code: 'ForbiddenByRbac' } } })
    }
    this.listed++
    const size = Math.min(25, Number(url.searchParams.get('maxresults') ?? 25))
    const skip = Number(url.searchParams.get('$skiptoken') ?? 0)
    const names = [...vault.secrets.keys()].sort()
    const page = names.slice(skip, skip + size).map((name) => {
      const current = (vault.secrets.get(name) ?? []).at(-1) as FakeSecretVersion
      return { id: `https://${host}/secrets/${name}`, attributes: { enabled: current.enabled, created: current.created, updated: current.updated ?? current.created, recoveryLevel: 'Recoverable+Purgeable' }, tags: {} }
    })
    const next = skip + size < names.length ? `https://${host}/secrets?api-version=${url.searchParams.get('api-version') ?? ''}&maxresults=${size}&$skiptoken=${skip + size}` : null
    json(res, 200, { value: page, nextLink: next })
  }
}
