import { randomBytes, randomUUID } from 'node:crypto'
import { test } from 'tap'
import { FakeContainerCredentials, startAwsFakes, type AwsFakes } from '../fakes/aws/index.js'
import { warmUrls } from './faults/child.js'
import { faults, type Answer, type GateAction } from './faults/gate.js'
import { HTML_200, malformed, runMatrix, type MatrixCase } from './faults/matrix.js'

// Fault matrix, AWS: the identity plane (ECS/EKS container credentials endpoint, and STS
// GetCallerIdentity for clock skew) and the data plane (Secrets Manager) × every way a network
// or a service breaks. Each startup runs as a child process under the loopback guard; it must
// succeed within the deadline (transient faults) or fail with the right code within the
// deadline + 1 s, and then exit by itself.

// short, but not so short that a loaded CI machine (children competing for two cores, a first
// TLS handshake) turns a transient fault into a failure
const DEADLINE = 2500
const SLOW_DEADLINE = 4000 // for a Retry-After of 1 s that must be honoured and still succeed
const READ = ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue']
const REGION = 'us-east-1'
const SM_HOST = `secretsmanager.${REGION}.amazonaws.com`
const STS_HOSTS = [`sts.${REGION}.amazonaws.com`, 'sts.amazonaws.com']
// the provider's own loader: the SDK pieces exactly as the provider resolves them (from its tree)
const WARM = ['@aws-sdk/client-secrets-manager', new URL('../../dist/providers/aws/sdk.js', import.meta.url).href]

type Target = 'container' | 'sm' | 'sts'
type Case = MatrixCase<Target>

const amzJson = (status: number, type: string, message: string, headers: Record<string, string> = {}): Answer =>
  ({ status, headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID(), 'x-amzn-errortype': type, ...headers }, body: JSON.stringify({ __type: type, message }) })
const json = (status: number, body: unknown, headers: Record<string, string> = {}): Answer =>
  ({ status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
const stsXml = (status: number, code: string, message: string, headers: Record<string, string> = {}): Answer => ({
  status,
  headers: { 'content-type': 'text/xml', 'x-amzn-requestid': randomUUID(), ...headers },
  body: `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`
})

function skewedDate (): string {
  return new Date(Date.now() + 3600_000).toUTCString()
}

test('AWS fault matrix: identity and data plane, startups in child processes', async (t) => {
  const fakes: AwsFakes = await startAwsFakes({ region: REGION })
  t.teardown(() => fakes.close())
  const value = `matrix-${randomBytes(12).toString('base64url')}`
  fakes.world.putSecret('matrix/a', value)
  const container = await new FakeContainerCredentials(fakes.world, { principal: `arn:aws:sts::${fakes.world.account}:assumed-role/task/m`, allow: READ }).start()
  t.teardown(() => container.close())
  const leakedKey = fakes.world.remember(randomBytes(30).toString('base64'))

  const identityExpired: GateAction = {
    rewrite: (a) => {
      // keys that expired an hour ago: AWS refuses them (the fake does once told)
      const creds = JSON.parse(String(a.body)) as Record<string, string>
      fakes.world.expire(creds.AccessKeyId)
      return { ...a, body: JSON.stringify({ ...creds, Expiration: new Date(Date.now() - 3600_000).toISOString() }) }
    }
  }
  const cases: Case[] = [
    // identity plane: the container credentials endpoint
    { alone: true, plane: 'identity', fault: 'connection refused', target: 'container', policy: 'refused', expect: { code: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'identity', fault: 'reset mid-response', target: 'container', policy: faults.always('reset'), expect: { code: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { alone: true, plane: 'identity', fault: 'accept and never answer', target: 'container', policy: faults.always('hang'), expect: { code: 'FST_CLOUD_SECRETS_TIMEOUT' } },
    { plane: 'identity', fault: 'slow drip', target: 'container', policy: faults.always('drip'), expect: { code: 'FST_CLOUD_SECRETS_TIMEOUT' } },
    { plane: 'identity', fault: '5xx (persistent)', target: 'container', policy: faults.always(json(500, { Code: 'InternalError', Message: 'fault' })), expect: { code: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'identity', fault: '5xx (twice, then well)', target: 'container', policy: faults.first(2, json(503, { Code: 'ServiceUnavailable', Message: 'fault' })), expect: { ok: true } },
    { plane: 'identity', fault: 'throttled, no Retry-After (persistent)', target: 'container', policy: faults.always(json(429, { Code: 'TooManyRequests', Message: 'slow down' })), expect: { code: 'FST_CLOUD_SECRETS_THROTTLED' } },
    { plane: 'identity', fault: 'throttled once, Retry-After 1 s', target: 'container', policy: faults.first(1, json(429, { Code: 'TooManyRequests', Message: 'slow down' }, { 'retry-after': '1' })), expect: { ok: true }, deadline: SLOW_DEADLINE },
    { plane: 'identity', fault: 'throttled, Retry-After beyond the deadline', target: 'container', policy: faults.always(json(429, { Code: 'TooManyRequests', Message: 'slow down' }, { 'retry-after': '30' })), expect: { code: 'FST_CLOUD_SECRETS_THROTTLED' }, fast: 'the SDK\'s fromHttp error hides the endpoint\'s Retry-After: retried until the deadline' },
    { plane: 'identity', fault: 'malformed JSON', target: 'container', policy: faults.always({ status: 200, headers: { 'content-type': 'application/json' }, body: malformed('SecretAccessKey', leakedKey, { AccessKeyId: 'ASIAMATRIXMALFORMED0' }) }), expect: { code: 'FST_CLOUD_SECRETS_NO_CREDENTIALS' } },
    { plane: 'identity', fault: 'wrong content type (HTML 200)', target: 'container', policy: faults.always(HTML_200), expect: { code: 'FST_CLOUD_SECRETS_NO_CREDENTIALS' } },
    { plane: 'identity', fault: 'expired credentials', target: 'container', policy: faults.always(identityExpired), expect: { code: 'FST_CLOUD_SECRETS_TOKEN' } },
    { plane: 'identity', fault: 'clock skew (STS: signature expired, Date 1 h ahead, once)', target: 'sts', policy: faults.first(1, stsXml(403, 'SignatureDoesNotMatch', 'Signature expired: 20260101T000000Z is now earlier than 20260101T010000Z (20260101T011500Z - 15 min.)', { date: skewedDate() })), expect: { ok: true } },
    // data plane: Secrets Manager
    { alone: true, plane: 'data', fault: 'connection refused', target: 'sm', policy: 'refused', expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'data', fault: 'reset mid-response', target: 'sm', policy: faults.always('reset'), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { alone: true, plane: 'data', fault: 'accept and never answer', target: 'sm', policy: faults.always('hang'), expect: { code: 'FST_CLOUD_SECRETS_TIMEOUT' } },
    { plane: 'data', fault: 'slow drip', target: 'sm', policy: faults.always('drip'), expect: { code: 'FST_CLOUD_SECRETS_TIMEOUT' } },
    { plane: 'data', fault: '5xx (persistent)', target: 'sm', policy: faults.always(amzJson(500, 'InternalServiceError', 'An error occurred on the server side.')), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'data', fault: '5xx (twice, then well)', target: 'sm', policy: faults.first(2, amzJson(503, 'ServiceUnavailable', 'try again')), expect: { ok: true } },
    { plane: 'data', fault: 'throttled, no Retry-After (persistent)', target: 'sm', policy: faults.always(amzJson(400, 'ThrottlingException', 'Rate exceeded')), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_THROTTLED' } },
    { plane: 'data', fault: 'throttled once, Retry-After 1 s', target: 'sm', policy: faults.first(1, amzJson(400, 'ThrottlingException', 'Rate exceeded', { 'retry-after': '1' })), expect: { ok: true }, deadline: SLOW_DEADLINE },
    { plane: 'data', fault: 'throttled, Retry-After beyond the deadline', target: 'sm', policy: faults.always(amzJson(400, 'ThrottlingException', 'Rate exceeded', { 'retry-after': '30' })), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_THROTTLED' }, fast: true },
    { plane: 'data', fault: 'malformed JSON', target: 'sm', policy: faults.always({ status: 200, headers: { 'content-type': 'application/x-amz-json-1.1' }, body: malformed('SecretString', value, { Name: 'matrix/a' }) }), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'data', fault: 'wrong content type (HTML 200)', target: 'sm', policy: faults.always(HTML_200), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'data', fault: 'expired credentials (ExpiredTokenException)', target: 'sm', policy: faults.always(amzJson(400, 'ExpiredTokenException', 'The security token included in the request is expired')), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_TOKEN' } },
    { plane: 'data', fault: 'clock skew (signature expired, Date 1 h ahead, once)', target: 'sm', policy: faults.first(1, amzJson(400, 'InvalidSignatureException', 'Signature expired: 20260101T000000Z is now earlier than 20260101T010000Z (20260101T011500Z - 15 min.)', { date: skewedDate() })), expect: { ok: true } }
  ]

  await runMatrix<Target>(t, {
    cases,
    deadline: DEADLINE,
    warm: warmUrls(WARM),
    targets: {
      container: { port: container.port, tls: false },
      sm: { port: fakes.sm.port, tls: true, gateTls: { key: fakes.pki.key, cert: fakes.pki.cert } },
      sts: { port: fakes.sts.port, tls: true, gateTls: { key: fakes.pki.key, cert: fakes.pki.cert } }
    },
    env: (c, port, deadline) => ({
      ...fakes.env,
      FCS_TEST_REDIRECT: fakes.redirect.split(',').map((entry) => {
        const host = entry.split('=')[0]
        if ((c.target === 'sm' && host === SM_HOST) || (c.target === 'sts' && STS_HOSTS.includes(host))) return `${host}=127.0.0.1:${port}`
        return entry
      }).join(','),
      AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${c.target === 'container' ? port : container.port}${container.path}`,
      CLOUD_SECRETS_PROVIDER: 'aws',
      CLOUD_SECRETS: 'a=matrix/a',
      CLOUD_SECRETS_TIMEOUT_MS: String(deadline)
    }),
    parallel: 3,
    batches: 3,
    sensitive: () => [value, leakedKey, ...fakes.world.sensitive()]
  })
})
