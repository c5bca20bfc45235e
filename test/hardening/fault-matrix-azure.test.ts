import { randomBytes, randomUUID } from 'node:crypto'
import { test } from 'tap'
import { startAzureWorld } from '../fakes/azure/index.js'
import { warmUrls } from './faults/child.js'
import { faults, type Answer, type GateAction, type GatePolicy, type GateRequest } from './faults/gate.js'
import { HTML_200, malformed, runMatrix, type MatrixCase } from './faults/matrix.js'

// Fault matrix, Azure: the identity plane (App Service / Container Apps managed identity
// endpoint, IDENTITY_ENDPOINT) and the data plane (Key Vault, reached under its production host
// name) × every way a network or a service breaks; startups in child processes (a few in batches, see faults/matrix.ts).

// short, but not so short that a loaded CI machine (children competing for two cores, a first
// TLS handshake) turns a transient fault into a failure
const DEADLINE = 2500
const SLOW_DEADLINE = 4000 // for a Retry-After of 1 s that must be honoured and still succeed
const WARM = ['@azure/identity', '@azure/keyvault-secrets', '@azure/core-rest-pipeline']

type Target = 'mi' | 'kv'
type Case = MatrixCase<Target>

const json = (status: number, body: unknown, headers: Record<string, string> = {}): Answer =>
  ({ status, headers: { 'content-type': 'application/json; charset=utf-8', 'x-ms-request-id': randomUUID(), ...headers }, body: JSON.stringify(body) })
const kvError = (status: number, code: string, message: string, headers: Record<string, string> = {}): Answer => json(status, { error: { code, message } }, headers)
const miError = (status: number, message: string, headers: Record<string, string> = {}): Answer => json(status, { statusCode: status, message, correlationId: randomUUID() }, headers)
/** Key Vault faults hit authenticated requests; the first, token-less request gets its normal challenge */
const authenticated = (action: GateAction | GatePolicy): GatePolicy => faults.when((req: GateRequest) => req.headers.authorization !== undefined, action)
const invalidToken = (description: string): Answer => kvError(401, 'Unauthorized', `AKV10022: Invalid audience or token. ${description}`, {
  'www-authenticate': `Bearer authorization="https://login.microsoftonline.com/common", resource="https://vault.azure.net", error="invalid_token", error_description="${description}"`
})

test('Azure fault matrix: identity and data plane, startups in child processes', async (t) => {
  const world = await startAzureWorld()
  t.teardown(() => world.close())
  const value = `matrix-${randomBytes(12).toString('base64url')}`
  world.keyvault.setSecret(world.vault, 'db-password', value)
  world.vault.readers.add(world.systemMi.oid)
  const leakedToken = `eyJ${randomBytes(40).toString('base64url')}`

  const tokenAt = (expiresOn: number, extra: Record<string, string> = {}): GateAction => ({
    rewrite: (a) => {
      const body = JSON.parse(String(a.body)) as Record<string, string>
      return { ...a, headers: { ...a.headers, ...extra }, body: JSON.stringify({ ...body, expires_on: String(expiresOn) }) }
    }
  })
  const now = (): number => Math.floor(Date.now() / 1000)
  // the endpoint hands out a token that the service already considers expired
  const expiredToken: GateAction = {
    rewrite: (a) => {
      const body = JSON.parse(String(a.body)) as Record<string, string>
      const issued = world.tokens.issued.get(body.access_token)
      if (issued !== undefined) issued.exp = now() - 3600
      return a
    }
  }

  const cases: Case[] = [
    { alone: true, plane: 'identity', fault: 'connection refused', target: 'mi', policy: 'refused', expect: { code: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'identity', fault: 'reset mid-response', target: 'mi', policy: faults.always('reset'), expect: { code: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { alone: true, plane: 'identity', fault: 'accept and never answer', target: 'mi', policy: faults.always('hang'), expect: { code: 'FST_CLOUD_SECRETS_TIMEOUT' } },
    { plane: 'identity', fault: 'slow drip', target: 'mi', policy: faults.always('drip'), expect: { code: 'FST_CLOUD_SECRETS_TIMEOUT' } },
    { plane: 'identity', fault: '5xx (persistent)', target: 'mi', policy: faults.always(miError(500, 'An unexpected error occured while fetching the AAD Token.')), expect: { code: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'identity', fault: '5xx (twice, then well)', target: 'mi', policy: faults.first(2, miError(503, 'Service unavailable')), expect: { ok: true } },
    { plane: 'identity', fault: 'throttled, no Retry-After (persistent)', target: 'mi', policy: faults.always(miError(429, 'Too many requests')), expect: { code: 'FST_CLOUD_SECRETS_THROTTLED' } },
    { plane: 'identity', fault: 'throttled once, Retry-After 1 s', target: 'mi', policy: faults.first(1, miError(429, 'Too many requests', { 'retry-after': '1' })), expect: { ok: true }, deadline: SLOW_DEADLINE },
    { plane: 'identity', fault: 'throttled, Retry-After beyond the deadline', target: 'mi', policy: faults.always(miError(429, 'Too many requests', { 'retry-after': '30' })), expect: { code: 'FST_CLOUD_SECRETS_THROTTLED' }, fast: true },
    { plane: 'identity', fault: 'malformed JSON', target: 'mi', policy: faults.always({ status: 200, headers: { 'content-type': 'application/json' }, body: malformed('access_token', leakedToken, { token_type: 'Bearer' }) }), expect: { code: 'FST_CLOUD_SECRETS_TOKEN' } },
    { plane: 'identity', fault: 'wrong content type (HTML 200)', target: 'mi', policy: faults.always(HTML_200), expect: { code: 'FST_CLOUD_SECRETS_TOKEN' } },
    { plane: 'identity', fault: 'expired credentials (a token Key Vault finds expired)', target: 'mi', policy: faults.always(expiredToken), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_TOKEN' } },
    { plane: 'identity', fault: 'clock skew (host 90 min ahead: a valid token looks expired)', target: 'mi', policy: faults.always(tokenAt(now() - 1800)), expect: { ok: true } },
    { plane: 'identity', fault: 'clock skew (endpoint 1 h ahead: Date and expiry)', target: 'mi', policy: faults.always(tokenAt(now() + 7200, { date: new Date(Date.now() + 3600_000).toUTCString() })), expect: { ok: true } },
    { alone: true, plane: 'data', fault: 'connection refused', target: 'kv', policy: 'refused', expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'data', fault: 'reset mid-response', target: 'kv', policy: faults.always('reset'), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { alone: true, plane: 'data', fault: 'accept and never answer', target: 'kv', policy: faults.always('hang'), expect: { code: 'FST_CLOUD_SECRETS_TIMEOUT' } },
    { plane: 'data', fault: 'slow drip', target: 'kv', policy: faults.always('drip'), expect: { code: 'FST_CLOUD_SECRETS_TIMEOUT' } },
    { plane: 'data', fault: '5xx (persistent)', target: 'kv', policy: authenticated(kvError(500, 'InternalServerError', 'An unexpected error occurred.')), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'data', fault: '5xx (twice, then well)', target: 'kv', policy: authenticated(faults.first(2, kvError(503, 'ServiceUnavailable', 'try again'))), expect: { ok: true } },
    { plane: 'data', fault: 'throttled, no Retry-After (persistent)', target: 'kv', policy: authenticated(kvError(429, 'Throttled', 'Rate limit is exceeded.')), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_THROTTLED' } },
    { plane: 'data', fault: 'throttled once, Retry-After 1 s', target: 'kv', policy: authenticated(faults.first(1, kvError(429, 'Throttled', 'Rate limit is exceeded.', { 'retry-after': '1' }))), expect: { ok: true }, deadline: SLOW_DEADLINE },
    { plane: 'data', fault: 'throttled, Retry-After beyond the deadline', target: 'kv', policy: authenticated(kvError(429, 'Throttled', 'Rate limit is exceeded.', { 'retry-after': '30' })), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_THROTTLED' }, fast: true },
    { plane: 'data', fault: 'malformed JSON', target: 'kv', policy: authenticated({ status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: malformed('value', value, { id: 'https://myvault.vault.azure.net/secrets/db-password/0' }) }), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'data', fault: 'wrong content type (HTML 200)', target: 'kv', policy: authenticated(HTML_200), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'data', fault: 'expired credentials (401 invalid_token, persistent)', target: 'kv', policy: authenticated(invalidToken('The access token is expired.')), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_TOKEN' } },
    { plane: 'data', fault: 'clock skew (Key Vault answers with a Date 1 h ahead)', target: 'kv', policy: faults.always({ rewrite: (a) => ({ ...a, headers: { ...a.headers, date: new Date(Date.now() + 3600_000).toUTCString() } }) }), expect: { ok: true } }
  ]

  const redirect = world.redirectEnv()
  const base = { ...redirect, AZURE_KEYVAULT_URL: 'https://myvault.vault.azure.net', CLOUD_SECRETS: 'db=db-password', CLOUD_SECRETS_PROVIDER: 'azure', AZURE_POD_IDENTITY_AUTHORITY_HOST: world.imdsNoIdentity.host }
  await runMatrix<Target>(t, {
    cases,
    deadline: DEADLINE,
    warm: warmUrls(WARM),
    targets: {
      mi: { port: world.appService.port, tls: false },
      kv: { port: world.keyvault.port, tls: true, gateTls: { key: world.pki.key, cert: world.pki.cert } }
    },
    env: (c, port, deadline) => ({
      ...base,
      ...world.appService.env(),
      ...(c.target === 'mi' ? { IDENTITY_ENDPOINT: `http://127.0.0.1:${port}${world.appService.path}` } : {}),
      ...(c.target === 'kv' ? { FCS_TEST_REDIRECT: redirect.FCS_TEST_REDIRECT.replace(/\*\.vault\.azure\.net=127\.0\.0\.1:\d+/, `*.vault.azure.net=127.0.0.1:${port}`) } : {}),
      CLOUD_SECRETS_TIMEOUT_MS: String(deadline)
    }),
    parallel: 3,
    batches: 3,
    sensitive: () => [value, leakedToken, world.appService.header, ...world.tokens.all()]
  })
})
