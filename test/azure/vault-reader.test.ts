import https from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'tap'
import type { AccessToken, GetTokenOptions } from '@azure/core-auth'
import { classifyVaultError } from '../../src/providers/azure/errors.js'
import { createVaultReader, KEY_VAULT_API_VERSION, parseChallenge } from '../../src/providers/azure/vault-reader.js'
import { RequestLifetime } from '../../src/shared/request-lifetime.js'
import { testPki } from '../helpers/tls.js'

// The startup's own Key Vault reads, driven directly against a TLS server under the production
// host name: the challenge protocol of the SDK's keyvault-common policy, CAE claims, error bodies
// shaped as the SDK's RestError, and answers that are never quoted.

const HOST = 'readervault.vault.azure.net'
const VAULT = `https://${HOST}`
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'
const CHALLENGE = `Bearer authorization="https://login.microsoftonline.com/${TENANT}", resource="https://vault.azure.net"`

type Handler = (req: IncomingMessage, res: ServerResponse) => void
let handler: Handler = (_req, res) => { res.statusCode = 500; res.end() }
const seen: Array<{ path: string, authorization?: string }> = []
let server: https.Server

test('setup', async () => {
  const pki = testPki([HOST])
  server = https.createServer({ key: pki.key, cert: pki.cert }, (req, res) => {
    seen.push({ path: req.url ?? '', authorization: req.headers.authorization })
    handler(req, res)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  process.env.FCS_TEST_REDIRECT = `${HOST}=127.0.0.1:${port}`
  process.env.FCS_TEST_CA_FILE = pki.caFile
})

function reader (tokens: Array<{ scopes: string | string[], options?: GetTokenOptions }>): ReturnType<typeof createVaultReader> & { close: () => void } {
  const agent = new https.Agent({ keepAlive: true })
  const scope = new RequestLifetime()
  const credential = {
    async getToken (scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
      tokens.push({ scopes, options })
      return { token: `tok-${tokens.length}${options?.claims !== undefined ? '-claims' : ''}`, expiresOnTimestamp: Date.now() + 3600_000 }
    }
  }
  return { ...createVaultReader({ credential, scope, agent }), close: () => { scope.close(); agent.destroy() } }
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

test('first read: no token, the 401 challenge names the resource and tenant; then one token per read, no challenge again', async (t) => {
  seen.length = 0
  handler = (req, res) => {
    if (req.headers.authorization === undefined) { json(res, 401, { error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer or PoP token.' } }, { 'www-authenticate': CHALLENGE }); return }
    json(res, 200, { value: 'v-1', id: `${VAULT}/secrets/db/0123abcd`, attributes: { enabled: true, updated: 1_700_000_000 } })
  }
  const tokens: Array<{ scopes: string | string[], options?: GetTokenOptions }> = []
  const r = reader(tokens)
  t.teardown(r.close)
  const ac = new AbortController()
  t.same(await r.getSecret(VAULT, 'db', undefined, ac.signal), { value: 'v-1', version: '0123abcd', updatedOn: 1_700_000_000_000 })
  t.same(seen.map((s) => s.authorization), [undefined, 'Bearer tok-1'], 'the challenge, then the read with the token')
  t.equal(seen[0].path, `/secrets/db/?api-version=${KEY_VAULT_API_VERSION}`, 'the SDK\'s path (empty version segment) and api-version')
  t.same(tokens[0].scopes, ['https://vault.azure.net/.default'])
  t.equal(tokens[0].options?.tenantId, TENANT, 'the tenant of the challenge\'s authorization URI')
  t.equal(tokens[0].options?.enableCae, true)
  await r.getSecret(VAULT, 'db', 'v 2', ac.signal)
  t.equal(seen.length, 3, 'the challenge is remembered: the next read goes with a token at once')
  t.equal(seen[2].path, `/secrets/db/v%202?api-version=${KEY_VAULT_API_VERSION}`, 'the version is a path segment, encoded')
})

test('a challenge whose resource is not a parent domain of the vault is refused before any token is asked', async (t) => {
  handler = (_req, res) => { json(res, 401, {}, { 'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/${TENANT}", resource="https://vault.evil.example"` }) }
  const tokens: Array<{ scopes: string | string[] }> = []
  const r = reader(tokens)
  t.teardown(r.close)
  const err = await r.getSecret(VAULT, 'db', undefined, new AbortController().signal).catch((e: Error) => e)
  t.match(String(err), /challenge resource 'vault.evil.example' does not match the requested domain/)
  t.equal(tokens.length, 0, 'no token for a host that did not prove it is a vault')
  t.equal(classifyVaultError(err, { vaultHost: HOST, secret: 'db' }).kind, 'TOKEN')
})

test('continuous access evaluation: a 401 asking for claims gets one retry with a token carrying them', async (t) => {
  const claims = '{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}'
  let asked = false
  handler = (req, res) => {
    if (req.headers.authorization === undefined) { json(res, 401, {}, { 'www-authenticate': CHALLENGE }); return }
    if (!req.headers.authorization.endsWith('-claims')) {
      asked = true
      json(res, 401, { error: { code: 'Unauthorized', message: 'token revoked' } }, { 'www-authenticate': `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="${Buffer.from(claims).toString('base64')}"` })
      return
    }
    json(res, 200, { value: 'v-cae', id: `${VAULT}/secrets/db/99` })
  }
  const tokens: Array<{ scopes: string | string[], options?: GetTokenOptions }> = []
  const r = reader(tokens)
  t.teardown(r.close)
  t.equal((await r.getSecret(VAULT, 'db', undefined, new AbortController().signal)).value, 'v-cae')
  t.ok(asked)
  t.equal(tokens.at(-1)?.options?.claims, claims, 'the decoded claims went to the credential')
})

test('error answers are RestError-shaped (status, code, inner code, Retry-After) and classify as the SDK\'s did', async (t) => {
  const r = reader([])
  t.teardown(r.close)
  const cases: Array<{ status: number, body: unknown, headers?: Record<string, string>, kind: string }> = [
    { status: 403, body: { error: { code: 'Forbidden', message: 'Caller is not authorized', innererror: { code: 'ForbiddenByRbac' } } }, kind: 'ACCESS_DENIED' },
    { status: 404, body: { error: { code: 'SecretNotFound', message: 'A secret with (name/id) db was not found in this key vault.' } }, kind: 'NOT_FOUND' },
    { status: 429, body: { error: { code: 'Throttled', message: 'Rate limit exceeded' } }, headers: { 'retry-after': '2' }, kind: 'THROTTLED' },
    { status: 503, body: 'not json at all', kind: 'UNAVAILABLE' }
  ]
  for (const c of cases) {
    handler = (req, res) => {
      if (req.headers.authorization === undefined) { json(res, 401, {}, { 'www-authenticate': CHALLENGE }); return }
      res.writeHead(c.status, { 'content-type': 'application/json', 'x-ms-request-id': 'req-1', ...c.headers })
      res.end(typeof c.body === 'string' ? c.body : JSON.stringify(c.body))
    }
    const err = await r.getSecret(VAULT, 'db', undefined, new AbortController().signal).catch((e: unknown) => e) as { name: string, statusCode: number, response: { headers: { get: (n: string) => string | undefined } } }
    t.equal(err.name, 'RestError')
    t.equal(err.statusCode, c.status)
    t.equal(err.response.headers.get('x-ms-request-id'), 'req-1')
    const classified = classifyVaultError(err, { vaultHost: HOST, secret: 'db' })
    t.equal(classified.kind, c.kind, `HTTP ${c.status} → ${c.kind}`)
    if (c.status === 429) t.equal(classified.retryAfterMs, 2000, 'Retry-After read from the answer')
  }
})

test('a 200 answer that is not JSON is refused without quoting it (it would be the secret)', async (t) => {
  const value = 'not-json-secret-value-4711'
  handler = (req, res) => {
    if (req.headers.authorization === undefined) { json(res, 401, {}, { 'www-authenticate': CHALLENGE }); return }
    res.end(value)
  }
  const r = reader([])
  t.teardown(r.close)
  const err = await r.getSecret(VAULT, 'db', undefined, new AbortController().signal).catch((e: unknown) => e) as Error & { code?: string }
  t.equal(err.code, 'PARSE_ERROR')
  const classified = classifyVaultError(err, { vaultHost: HOST, secret: 'db' })
  t.notMatch(`${String(err)} ${classified.message} ${JSON.stringify(classified)}`, value)
})

test('an answer far larger than any secret is cut off', async (t) => {
  handler = (req, res) => {
    if (req.headers.authorization === undefined) { json(res, 401, {}, { 'www-authenticate': CHALLENGE }); return }
    res.end(Buffer.alloc(5 * 1024 * 1024, 0x61))
  }
  const r = reader([])
  t.teardown(r.close)
  const err = await r.getSecret(VAULT, 'db', undefined, new AbortController().signal).catch((e: unknown) => e)
  t.match(String(err), /larger than/)
})

test('parseChallenge: keyvault-common\'s parsing (tenant from the authorization path; an invalid URI is an error)', async (t) => {
  t.same(parseChallenge(`Bearer authorization="https://login.microsoftonline.com/${TENANT}", resource="https://vault.azure.net", unknown="x"`),
    { authorization: `https://login.microsoftonline.com/${TENANT}`, resource: 'https://vault.azure.net', tenantId: TENANT })
  t.same(parseChallenge('Bearer scope="https://vault.azure.net/.default"'), { scope: 'https://vault.azure.net/.default' })
  t.throws(() => parseChallenge('Bearer authorization="not-a-url"'), /challenge authorization URI 'not-a-url' is invalid/)
})

test('teardown', async () => {
  delete process.env.FCS_TEST_REDIRECT
  delete process.env.FCS_TEST_CA_FILE
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
})
