import { test } from 'tap'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { inspect } from 'node:util'
import * as sdk from '@azure/identity'
import { grantDocuments, roleAssignmentCommand, bicepRoleAssignment, secretLocation, SECRETS_USER_ROLE_ID } from '../../src/providers/azure/grant.js'
import { AzureSdkError, classifyCredentialError, classifyVaultError, credentialFailureError, registerSensitive, sanitize, scrub, statusInChain } from '../../src/providers/azure/errors.js'
import { buildChain, selectedSources } from '../../src/providers/azure/chain.js'
import { CliCredential } from '../../src/providers/azure/credentials/cli.js'
import { ManagedIdentityHttpCredential } from '../../src/providers/azure/credentials/managed-identity.js'
import { decodeTokenClaims, managedIdentityKind } from '../../src/providers/azure/identity.js'
import { detectPlatform, dmiVendor } from '../../src/providers/azure/platform.js'
import type { ChainLink } from '../../src/providers/azure/types.js'
import { RequestLifetime } from '../../src/shared/request-lifetime.js'
import { vaultScopes } from '../../src/providers/azure/secrets.js'
import { TokenRegistry, randomPrincipal } from '../fakes/azure/index.js'
import type { SecretReference } from '../../src/index.js'
import type { Identity } from '../../src/types.js'

const ref = (alias: string, id: string): SecretReference => ({ alias, provider: 'azure', id, optional: false, raw: id })
const identity: Identity = { provider: 'azure', platform: 'app-service', source: 'azure:managed-identity', principal: 'oid-1', details: { objectId: 'oid-1', appId: 'app-1', principalType: 'ServicePrincipal', managedIdentity: 'system-assigned' } }

test('grant documents: per vault, RBAC (vault and per secret), Bicep, access policy', async (t) => {
  const refs = [ref('a', 'db'), ref('b', 'api'), ref('c', 'https://other.vault.azure.cn/secrets/x'), { ...ref('d', 'aws-thing'), provider: 'aws' as const }]
  const docs = grantDocuments(refs, identity, 'https://myvault.vault.azure.net')
  t.equal(docs.length, 6)
  t.match(docs[0].text, 'az role assignment create --assignee-object-id oid-1 --assignee-principal-type ServicePrincipal --role "Key Vault Secrets User" --scope "$(az keyvault show --name myvault --query id -o tsv)"')
  t.match(docs[0].text, '/secrets/api"')
  t.match(docs[0].title, /reads api, db/)
  t.equal(docs[1].format, 'bicep')
  t.match(docs[1].text, SECRETS_USER_ROLE_ID)
  t.match(docs[1].text, "principalId: 'oid-1'")
  t.match(docs[2].text, 'az keyvault set-policy --name myvault --object-id oid-1 --secret-permissions get')
  t.match(docs[3].text, '--name other ')
  t.same(grantDocuments([ref('a', 'db')], identity), [], 'short names without a default vault have no vault to grant on')
  t.match(roleAssignmentCommand({ appId: 'app-9', type: 'User' }, 'v'), '--assignee-object-id "$(az ad sp show --id app-9 --query id -o tsv)" --assignee-principal-type User')
  t.match(roleAssignmentCommand({ type: 'ServicePrincipal' }, 'v'), '<principal-object-id>')
  t.match(bicepRoleAssignment({ type: 'ServicePrincipal' }, 'my-vault'), 'principalId: principalId // the object id')
  const user = grantDocuments([ref('a', 'db')], { ...identity, principal: undefined, details: { principalType: 'User' } }, 'https://v.vault.azure.net')
  t.match(user[0].title, /the app's identity/)
  t.same(secretLocation(ref('x', 'https://h.vault.azure.net/secrets/n')), { vaultUrl: 'https://h.vault.azure.net', host: 'h.vault.azure.net', name: 'n' })
  t.same(vaultScopes([ref('a', 'db'), ref('c', 'https://o.vault.usgovcloudapi.net/secrets/x'), { ...ref('d', 'z'), provider: 'gcp' as const }], 'https://myvault.vault.azure.net'), ['https://vault.azure.net/.default', 'https://vault.usgovcloudapi.net/.default'])
  t.same(vaultScopes([ref('a', 'db')]), [])
})

test('Key Vault error classification (synthetic SDK errors)', async (t) => {
  const call = { vaultHost: 'myvault.vault.azure.net', secret: 's', identity }
  const rest = (props: Record<string, unknown>, message = 'm'): Error => Object.assign(new Error(message), { name: 'RestError', ...props })
  t.equal(classifyVaultError(rest({ statusCode: 404, code: 'SecretNotFound' }), { ...call, version: 'abc' }).kind, 'NOT_FOUND')
  t.equal(classifyVaultError(rest({ statusCode: 500 }), call).retryable, true)
  t.equal(classifyVaultError(rest({ statusCode: 429, code: 'Throttled', response: { headers: { get: () => '2' } } }), call).retryAfterMs, 2000)
  t.equal(classifyVaultError(new Error("The challenge resource 'https://evil.example' does not match the requested domain"), call).kind, 'TOKEN')
  t.equal(classifyVaultError(Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }), call).kind, 'NOT_FOUND')
  const reset = classifyVaultError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), call)
  t.same([reset.kind, reset.retryable], ['UNAVAILABLE', true])
  t.equal(classifyVaultError(Object.assign(new Error('no'), { name: 'CredentialUnavailableError' }), { ...call, identity: undefined }).kind, 'TOKEN')
  t.equal(classifyVaultError(new Error('weird'), call).kind, 'UNAVAILABLE')
  const rbac = classifyVaultError(rest({ statusCode: 403, code: 'Forbidden', details: { error: { innerError: { code: 'ForbiddenByRbac' } } } }), { ...call, identity: { ...identity, details: { user: 'dev@x', appId: 'a' } } })
  t.match(rbac.message, /user dev@x/)
})

test('credential classification and the final error', async (t) => {
  const link = (source: ChainLink['source'], miKind?: ChainLink['miKind']): ChainLink => ({ source, credentialName: 'C', describe: 'd', miKind })
  const unavailable = Object.assign(new Error('x'), { name: 'CredentialUnavailableError' })
  const env503 = classifyCredentialError(link('azure:environment'), Object.assign(new Error('Service Unavailable'), { name: 'AuthenticationError', statusCode: 503 }))
  t.same([env503.kind, env503.retryable, env503.failure?.stopsChain], ['UNAVAILABLE', true, true])
  const net = classifyCredentialError(link('azure:workload-identity'), Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }))
  t.match(net.failure?.reason, /ECONNREFUSED/)
  t.equal(classifyCredentialError(link('azure:environment'), unavailable).failure?.unavailable, true)
  t.equal(classifyCredentialError(link('azure:managed-identity', 'imds'), Object.assign(new Error('connect'), { code: 'EHOSTUNREACH' })).failure?.unavailable, true)
  t.equal(classifyCredentialError(link('azure:managed-identity', 'arc'), new Error('boom')).failure?.unavailable, false)
  t.equal(statusInChain(new Error('outer', { cause: new Error('HTTP status 502') })), 502)
  const onlyUnavailable = credentialFailureError([{ link: link('azure:cli'), unavailable: true, stopsChain: false, reason: 'r' }], [], 'scope')
  t.equal(onlyUnavailable.kind, 'NO_CREDENTIALS')
  for (const [source, re] of [['azure:environment', /check AZURE_TENANT_ID/], ['azure:managed-identity', /managed identity endpoint failed/], ['azure:developer-cli', /azd auth token/]] as const) {
    const e = credentialFailureError([{ link: link(source), unavailable: false, stopsChain: false, reason: 'something else' }], [], 's')
    t.match(e.fix, re)
  }
})

test('sanitized causes: no request/response objects, no tokens, no registered secrets', async (t) => {
  const token = new TokenRegistry().mint(randomPrincipal(), 'https://vault.azure.net').token
  registerSensitive('super-secret-header-value', undefined, 'x')
  const sdkError = Object.assign(new Error(`failed with Authorization: Bearer ${token} and super-secret-header-value`), {
    name: 'RestError', code: 'Oops', statusCode: 500, request: { headers: { authorization: `Bearer ${token}` } }, response: { headers: { get: (n: string) => n === 'x-ms-request-id' ? 'rid-1' : undefined } }
  })
  const clean = sanitize(new Error('outer', { cause: sdkError })) as AzureSdkError
  const text = inspect(clean, { depth: 10 }) + JSON.stringify(clean)
  t.notMatch(text, token.split('.')[1])
  t.notMatch(text, 'super-secret-header-value')
  t.match(inspect(clean, { depth: 10 }), /rid-1/)
  t.equal(sanitize(undefined), undefined)
  t.match(String(sanitize(`raw ${token}`)), '[token]')
  t.equal(sanitize(clean), clean)
  t.equal(scrub('Bearer abcdefghijklmnop'), 'Bearer [token]')
})

test('identity helpers', async (t) => {
  t.same(decodeTokenClaims('not-a-jwt'), {})
  t.same(decodeTokenClaims('a.!!!.c'), {})
  t.same(decodeTokenClaims(`a.${Buffer.from('"str"').toString('base64url')}.c`), {})
  t.equal(managedIdentityKind(undefined), undefined)
  t.equal(managedIdentityKind('/subscriptions/s/resourcegroups/r/providers/Microsoft.Compute/virtualMachines/vm'), 'system-assigned')
  t.equal(detectPlatform({}), 'local')
  t.equal(detectPlatform({ KUBERNETES_SERVICE_HOST: '10.0.0.1' }), 'aks')
  t.equal(detectPlatform({}, true), 'vm')
  t.equal(dmiVendor('/nonexistent/sys_vendor'), undefined)
  t.same(selectedSources({ AZURE_TOKEN_CREDENTIALS: 'prod' }), ['azure:environment', 'azure:workload-identity', 'azure:managed-identity'])
  t.same(selectedSources({ AZURE_TOKEN_CREDENTIALS: 'AzureDeveloperCliCredential' }), ['azure:developer-cli'])
  const scope = new RequestLifetime()
  let sdkImports = 0
  const chain = async (env: Record<string, string>, dmi?: string): Promise<ChainLink[]> => await buildChain({ identitySdk: async () => { sdkImports++; return sdk }, env, credentialOptions: {}, children: new Set(), scope, dmi: () => dmi })
  const notAzure = await chain({}, 'QEMU')
  t.match(notAzure[2].skipReason, /firmware vendor is "QEMU"/)
  t.notOk((await chain({}, 'Microsoft Corporation'))[2].skipReason, 'an Azure (Hyper-V) machine probes IMDS')
  t.ok((await chain({ IDENTITY_ENDPOINT: 'http://127.0.0.1:1/x', IDENTITY_HEADER: 'h' })).every((link) => link.source === 'azure:environment' || link.source === 'azure:workload-identity' || link.credential !== undefined), 'App Service managed identity and the CLIs are built')
  t.equal(sdkImports, 0, 'a chain of the plugin\'s own credentials (IMDS, App Service, az, azd) never asks for @azure/identity')
  t.equal((await chain({ IDENTITY_ENDPOINT: 'http://127.0.0.1:1/x', IMDS_ENDPOINT: 'http://127.0.0.1:2' }))[2].miKind, 'arc')
  t.equal(sdkImports, 1, 'Azure Arc managed identity is the SDK\'s credential')
  t.equal((await chain({ MSI_ENDPOINT: 'http://127.0.0.1:1/x' }))[2].miKind, 'cloud-shell')
  t.equal((await chain({ IDENTITY_ENDPOINT: 'https://127.0.0.1:1/x', IDENTITY_HEADER: 'h', IDENTITY_SERVER_THUMBPRINT: 't' }))[2].miKind, 'service-fabric')
  t.match((await chain({ AZURE_CLIENT_CERTIFICATE_PATH: '/x.pem' }))[0].skipReason, /incomplete/)
  t.match((await chain({ AZURE_FEDERATED_TOKEN_FILE: '/t' }))[1].skipReason, /incomplete: AZURE_CLIENT_ID, AZURE_TENANT_ID/)
  t.equal(sdkImports, 3, 'incomplete service principal / workload identity settings need no SDK')
  t.match((await chain({ AZURE_TENANT_ID: 'bad tenant!', AZURE_CLIENT_ID: 'c', AZURE_CLIENT_SECRET: 'secret-value' }))[0].skipReason, /cannot be used here/)
  t.equal(sdkImports, 4, 'a configured service principal is the SDK\'s credential')
})

test('managed identity client: IMDS probe, caching, odd answers', async (t) => {
  let mode = 'ok'
  const server = http.createServer((req, res) => {
    if (req.headers.metadata !== 'true') return res.writeHead(400).end('{"error":"invalid_request"}')
    if (mode === 'no-token') return res.writeHead(200).end('{}')
    res.writeHead(200).end(JSON.stringify({ access_token: 'a.b.c', expires_in: '3600', expires_on: 'soon' }))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const port = (server.address() as AddressInfo).port
  const scope = new RequestLifetime()
  const mi = new ManagedIdentityHttpCredential({ kind: 'imds', tokenUrl: `http://127.0.0.1:${port}/metadata/identity/oauth2/token`, scope, probe: true })
  const token = await mi.getToken('https://vault.azure.net/.default')
  t.ok(token.expiresOnTimestamp > Date.now() + 3000_000, 'expires_in is used when expires_on is not a number')
  t.equal(await mi.getToken(['https://vault.azure.net/.default']), token, 'cached')
  await t.rejects(mi.getToken(['a', 'b']), /multiple scopes/)
  mode = 'no-token'
  await t.rejects(mi.getToken('https://other/.default'), /without access_token/)
  const closed = new ManagedIdentityHttpCredential({ kind: 'imds', tokenUrl: 'http://127.0.0.1:9/metadata/identity/oauth2/token', scope, probe: true })
  await t.rejects(closed.getToken('https://vault.azure.net/.default'), /IMDS endpoint, but it is not available/)
  scope.close()
  t.ok(scope.closed)
  await t.rejects(mi.getToken('https://third/.default'), /abort/i, 'requests after close() abort at once')
})

test('CLI credential edge cases', async (t) => {
  const children = new Set<import('node:child_process').ChildProcess>()
  const az = new CliCredential('az', children)
  await t.rejects(az.getToken('https://vault.azure.net/.default; rm -rf /'), /invalid scope/)
  await t.rejects(az.getToken('https://vault.azure.net/.default', { tenantId: 't t' }), /invalid scope or tenant/)
  const path = process.env.PATH
  process.env.PATH = '/nonexistent'
  t.teardown(() => { process.env.PATH = path })
  await t.rejects(az.getToken('https://vault.azure.net/.default'), /not installed/)
  const controller = new AbortController()
  controller.abort()
  process.env.PATH = path
  await t.rejects(new CliCredential('azd', children).getToken('https://vault.azure.net/.default', { abortSignal: controller.signal }))
  t.equal(children.size, 0)
})
