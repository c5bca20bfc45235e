import { randomBytes, randomUUID } from 'node:crypto'
import { test } from 'tap'
import { FakeContainerCredentials, startAwsFakes, type AwsFakes } from '../fakes/aws/index.js'
import { assertNoLeak } from '../helpers/capture.js'
import { runChild, inParallel, warmUrls, type ChildResult } from './faults/child.js'
import { FaultGate, faults, refusedPort, type Answer, type GateAction, type GatePolicy } from './faults/gate.js'

// Fault matrix, AWS: the identity plane (ECS/EKS container credentials endpoint, and STS
// GetCallerIdentity for clock skew) and the data plane (Secrets Manager) × every way a network
// or a service breaks. Each startup runs as a child process under the loopback guard; it must
// succeed within the deadline (transient faults) or fail with the right code within the
// deadline + 1 s, and then exit by itself.

const DEADLINE = 1500
const SLOW_DEADLINE = 3000 // for a Retry-After of 1 s that must be honoured and still succeed
const READ = ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue']
const REGION = 'us-east-1'
const SM_HOST = `secretsmanager.${REGION}.amazonaws.com`
const STS_HOSTS = [`sts.${REGION}.amazonaws.com`, 'sts.amazonaws.com']
const WARM = ['@aws-sdk/client-secrets-manager', '@aws-sdk/client-sts', '@aws-sdk/credential-providers']

type Target = 'container' | 'sm' | 'sts'
interface Case {
  plane: 'identity' | 'data'
  fault: string
  target: Target
  /** a gate policy, or 'refused' for a port with nothing listening */
  policy: GatePolicy | 'refused'
  expect: { ok: true } | { code: string, inner?: string }
  deadline?: number
}

/**
 * Faults retried until the deadline (persistent 5xx, refused, reset, throttling) end with the
 * store's answer; rarely, under load, the last attempt is still running when the deadline fires
 * and the startup ends as TIMEOUT instead (core retry race, see the hardening report). That is
 * accepted, and said, rather than made a flaky failure.
 */
const RETRIED_UNTIL_DEADLINE = new Set(['FST_CLOUD_SECRETS_UNAVAILABLE', 'FST_CLOUD_SECRETS_THROTTLED'])

const amzJson = (status: number, type: string, message: string, headers: Record<string, string> = {}): Answer =>
  ({ status, headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID(), 'x-amzn-errortype': type, ...headers }, body: JSON.stringify({ __type: type, message }) })
const json = (status: number, body: unknown, headers: Record<string, string> = {}): Answer =>
  ({ status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
const stsXml = (status: number, code: string, message: string, headers: Record<string, string> = {}): Answer => ({
  status,
  headers: { 'content-type': 'text/xml', 'x-amzn-requestid': randomUUID(), ...headers },
  body: `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`
})
const html: Answer = { status: 200, headers: { 'content-type': 'text/html' }, body: '<html><body><h1>Welcome to nginx!</h1></body></html>' }

/** A body that is almost JSON and carries a secret-looking value right before the syntax error (V8 quotes that region). */
function malformed (field: string, value: string, extra: Record<string, string> = {}): string {
  return `{${Object.entries(extra).map(([k, v]) => `"${k}":"${v}",`).join('')}"${field}":"${value}",,}`
}

function skewedDate (): string {
  return new Date(Date.now() + 3600_000).toUTCString()
}

test('AWS fault matrix: identity and data plane, each startup in its own process', async (t) => {
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
    { plane: 'identity', fault: 'connection refused', target: 'container', policy: 'refused', expect: { code: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'identity', fault: 'reset mid-response', target: 'container', policy: faults.always('reset'), expect: { code: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'identity', fault: 'accept and never answer', target: 'container', policy: faults.always('hang'), expect: { code: 'FST_CLOUD_SECRETS_TIMEOUT' } },
    { plane: 'identity', fault: 'slow drip', target: 'container', policy: faults.always('drip'), expect: { code: 'FST_CLOUD_SECRETS_TIMEOUT' } },
    { plane: 'identity', fault: '5xx (persistent)', target: 'container', policy: faults.always(json(500, { Code: 'InternalError', Message: 'fault' })), expect: { code: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'identity', fault: '5xx (twice, then well)', target: 'container', policy: faults.first(2, json(503, { Code: 'ServiceUnavailable', Message: 'fault' })), expect: { ok: true } },
    { plane: 'identity', fault: 'throttled, no Retry-After (persistent)', target: 'container', policy: faults.always(json(429, { Code: 'TooManyRequests', Message: 'slow down' })), expect: { code: 'FST_CLOUD_SECRETS_THROTTLED' } },
    { plane: 'identity', fault: 'throttled once, Retry-After 1 s', target: 'container', policy: faults.first(1, json(429, { Code: 'TooManyRequests', Message: 'slow down' }, { 'retry-after': '1' })), expect: { ok: true }, deadline: SLOW_DEADLINE },
    { plane: 'identity', fault: 'throttled, Retry-After beyond the deadline', target: 'container', policy: faults.always(json(429, { Code: 'TooManyRequests', Message: 'slow down' }, { 'retry-after': '30' })), expect: { code: 'FST_CLOUD_SECRETS_THROTTLED' } },
    { plane: 'identity', fault: 'malformed JSON', target: 'container', policy: faults.always({ status: 200, headers: { 'content-type': 'application/json' }, body: malformed('SecretAccessKey', leakedKey, { AccessKeyId: 'ASIAMATRIXMALFORMED0' }) }), expect: { code: 'FST_CLOUD_SECRETS_NO_CREDENTIALS' } },
    { plane: 'identity', fault: 'wrong content type (HTML 200)', target: 'container', policy: faults.always(html), expect: { code: 'FST_CLOUD_SECRETS_NO_CREDENTIALS' } },
    { plane: 'identity', fault: 'expired credentials', target: 'container', policy: faults.always(identityExpired), expect: { code: 'FST_CLOUD_SECRETS_TOKEN' } },
    { plane: 'identity', fault: 'clock skew (STS: signature expired, Date 1 h ahead, once)', target: 'sts', policy: faults.first(1, stsXml(403, 'SignatureDoesNotMatch', 'Signature expired: 20260101T000000Z is now earlier than 20260101T010000Z (20260101T011500Z - 15 min.)', { date: skewedDate() })), expect: { ok: true } },
    // data plane: Secrets Manager
    { plane: 'data', fault: 'connection refused', target: 'sm', policy: 'refused', expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'data', fault: 'reset mid-response', target: 'sm', policy: faults.always('reset'), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'data', fault: 'accept and never answer', target: 'sm', policy: faults.always('hang'), expect: { code: 'FST_CLOUD_SECRETS_TIMEOUT' } },
    { plane: 'data', fault: 'slow drip', target: 'sm', policy: faults.always('drip'), expect: { code: 'FST_CLOUD_SECRETS_TIMEOUT' } },
    { plane: 'data', fault: '5xx (persistent)', target: 'sm', policy: faults.always(amzJson(500, 'InternalServiceError', 'An error occurred on the server side.')), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'data', fault: '5xx (twice, then well)', target: 'sm', policy: faults.first(2, amzJson(503, 'ServiceUnavailable', 'try again')), expect: { ok: true } },
    { plane: 'data', fault: 'throttled, no Retry-After (persistent)', target: 'sm', policy: faults.always(amzJson(400, 'ThrottlingException', 'Rate exceeded')), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_THROTTLED' } },
    { plane: 'data', fault: 'throttled once, Retry-After 1 s', target: 'sm', policy: faults.first(1, amzJson(400, 'ThrottlingException', 'Rate exceeded', { 'retry-after': '1' })), expect: { ok: true }, deadline: SLOW_DEADLINE },
    { plane: 'data', fault: 'throttled, Retry-After beyond the deadline', target: 'sm', policy: faults.always(amzJson(400, 'ThrottlingException', 'Rate exceeded', { 'retry-after': '30' })), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_THROTTLED' } },
    { plane: 'data', fault: 'malformed JSON', target: 'sm', policy: faults.always({ status: 200, headers: { 'content-type': 'application/x-amz-json-1.1' }, body: malformed('SecretString', value, { Name: 'matrix/a' }) }), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'data', fault: 'wrong content type (HTML 200)', target: 'sm', policy: faults.always(html), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'data', fault: 'expired credentials (ExpiredTokenException)', target: 'sm', policy: faults.always(amzJson(400, 'ExpiredTokenException', 'The security token included in the request is expired')), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_TOKEN' } },
    { plane: 'data', fault: 'clock skew (signature expired, Date 1 h ahead, once)', target: 'sm', policy: faults.first(1, amzJson(400, 'InvalidSignatureException', 'Signature expired: 20260101T000000Z is now earlier than 20260101T010000Z (20260101T011500Z - 15 min.)', { date: skewedDate() })), expect: { ok: true } }
  ]

  const upstream: Record<Target, { port: number, tls: boolean }> = {
    container: { port: container.port, tls: false },
    sm: { port: fakes.sm.port, tls: true },
    sts: { port: fakes.sts.port, tls: true }
  }
  const warm = warmUrls(WARM)
  const started = Date.now()
  const results = await inParallel(4, cases.map((c) => async (): Promise<[Case, ChildResult]> => {
    let port: number
    let gate: FaultGate | undefined
    if (c.policy === 'refused') {
      port = await refusedPort()
    } else {
      gate = await new FaultGate({ upstream: upstream[c.target], tls: c.target === 'container' ? undefined : { key: fakes.pki.key, cert: fakes.pki.cert }, policy: c.policy }).start()
      port = gate.port
    }
    const redirect = fakes.redirect.split(',').map((entry) => {
      const host = entry.split('=')[0]
      if (c.target === 'sm' && host === SM_HOST) return `${host}=127.0.0.1:${port}`
      if (c.target === 'sts' && STS_HOSTS.includes(host)) return `${host}=127.0.0.1:${port}`
      return entry
    }).join(',')
    const containerPort = c.target === 'container' ? port : container.port
    const deadline = c.deadline ?? DEADLINE
    try {
      return [c, await runChild({
        ...fakes.env,
        FCS_TEST_REDIRECT: redirect,
        AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${containerPort}${container.path}`,
        CLOUD_SECRETS_PROVIDER: 'aws',
        CLOUD_SECRETS: 'a=matrix/a',
        CLOUD_SECRETS_TIMEOUT_MS: String(deadline)
      }, { warm, hardLimitMs: deadline + 10_000 })]
    } finally {
      await gate?.close()
    }
  }))

  const sensitive = [value, leakedKey, ...fakes.world.sensitive()]
  for (const [c, r] of results) {
    const name = `${c.plane} plane, ${c.fault}`
    const deadline = c.deadline ?? DEADLINE
    const o = r.outcome
    t.ok(o !== undefined, `${name}: the child reported an outcome${o === undefined ? ` (stderr: ${r.stderr.slice(0, 400)})` : ''}`)
    if (o === undefined) continue
    if ('ok' in c.expect) {
      t.ok(o.ok, `${name}: startup succeeds (got ${o.code ?? 'ok'} ${(o.text ?? '').split('\n')[0].slice(0, 300)})`)
      t.ok(o.ms < deadline, `${name}: within the ${deadline} ms deadline (${o.ms} ms)`)
    } else {
      const expected = c.expect.inner ?? c.expect.code
      if (o.code === 'FST_CLOUD_SECRETS_TIMEOUT' && RETRIED_UNTIL_DEADLINE.has(expected)) {
        t.comment(`${name}: the deadline fired during the last retry (TIMEOUT instead of ${expected})`)
      } else {
        t.equal(o.code, c.expect.code, `${name}: ${c.expect.code} (${(o.text ?? '').split('\n').slice(0, 3).join(' | ').slice(0, 400)})`)
        if (c.expect.inner !== undefined) t.same(o.inner, [c.expect.inner], `${name}: the failure is ${c.expect.inner}`)
      }
      t.ok(o.ms <= deadline + 1000, `${name}: failed within deadline + 1 s (${o.ms} ms)`)
    }
    t.ok(r.exited, `${name}: the child exited by itself${r.exitLagMs !== undefined ? ` (${r.exitLagMs} ms after its outcome)` : ''}`)
    t.equal(r.exitCode, 0, `${name}: exit code 0 (no loopback violation)`)
    assertNoLeak(t, r.stdout + r.stderr, sensitive, `${name}: child output`)
  }
  t.comment(`${cases.length} startups in ${Date.now() - started} ms`)
})
