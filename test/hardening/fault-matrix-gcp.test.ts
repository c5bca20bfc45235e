import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'tap'
import { startGcpFakes } from '../fakes/gcp/index.js'
import { warmUrls } from './faults/child.js'
import { faults, type Answer, type GateAction, type GateRequest } from './faults/gate.js'
import { HTML_200, malformed, runMatrix, type MatrixCase } from './faults/matrix.js'

// Fault matrix, GCP: the identity plane (the metadata server of Cloud Run / GKE / GCE) and the
// data plane (Secret Manager over gRPC, reached under its production host name) × every way a
// network or a service breaks; startups in child processes (a few in batches, see faults/matrix.ts).

// a first gRPC call (TLS, HTTP/2, channel, token) costs ~350 ms on an idle machine and three
// times that with the matrix's children competing for two cores: 2.5 s keeps "transient" honest
const DEADLINE = 2500
const SLOW_DEADLINE = 4000
const WARM = ['@google-cloud/secret-manager']

type Target = 'metadata' | 'sm'
type Case = MatrixCase<Target>

const flavor = { 'metadata-flavor': 'Google' }
const meta = (status: number, body: string, headers: Record<string, string> = {}): Answer => ({ status, headers: { 'content-type': 'text/html', ...flavor, ...headers }, body })
const isToken = (req: GateRequest): boolean => req.path.includes('/token')

/** protobuf helpers, enough for google.rpc.Status with a RetryInfo detail */
function varint (n: number): Buffer {
  const out: number[] = []
  do { let b = n & 0x7f; n = Math.floor(n / 128); if (n > 0) b |= 0x80; out.push(b) } while (n > 0)
  return Buffer.from(out)
}
const field = (tag: number, payload: Buffer): Buffer => Buffer.concat([Buffer.from([(tag << 3) | 2]), varint(payload.length), payload])
function statusDetails (code: number, message: string, retrySeconds?: number): string {
  const parts = [Buffer.concat([Buffer.from([0x08]), varint(code)]), field(2, Buffer.from(message))]
  if (retrySeconds !== undefined) {
    const retryInfo = field(1, Buffer.concat([Buffer.from([0x08]), varint(retrySeconds)]))
    parts.push(field(3, Buffer.concat([field(1, Buffer.from('type.googleapis.com/google.rpc.RetryInfo')), field(2, retryInfo)])))
  }
  return Buffer.concat(parts).toString('base64')
}
const grpcStatus = (code: number, message: string, retrySeconds?: number): Answer => ({
  status: 200,
  headers: { 'content-type': 'application/grpc' },
  trailers: { 'grpc-status': String(code), 'grpc-message': encodeURIComponent(message), ...(retrySeconds !== undefined ? { 'grpc-status-details-bin': statusDetails(code, message, retrySeconds) } : {}) }
})

test('GCP fault matrix: identity and data plane, startups in child processes', async (t) => {
  const fakes = await startGcpFakes()
  t.teardown(() => fakes.close())
  const { world } = fakes
  const value = `matrix-${randomBytes(12).toString('base64url')}`
  world.addSecret('projects/demo-project/secrets/db', value)
  world.allowAccess(world.metadataIdentity.email, 'projects/demo-project/secrets/db')
  const leakedToken = `ya29.${randomBytes(40).toString('base64url')}`
  const gcloudConfig = mkdtempSync(join(tmpdir(), 'fcs-gcloud-empty-'))

  const expiredToken: GateAction = {
    rewrite: (a) => {
      const body = JSON.parse(String(a.body)) as { access_token: string }
      const grant = world.tokens.get(body.access_token)
      if (grant !== undefined) grant.expiresAt = Date.now() - 3600_000
      return a
    }
  }
  // a protobuf message frame that cannot be decoded, carrying the value (a decoder must not echo it)
  const garbage = Buffer.concat([Buffer.from([0x0a, 0x05]), Buffer.from('proj/'), Buffer.from([0x12, 0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.from(value)])
  const malformedProto: Answer = {
    status: 200,
    headers: { 'content-type': 'application/grpc' },
    body: Buffer.concat([Buffer.from([0]), Buffer.from([0, 0, 0, garbage.length]), garbage]),
    trailers: { 'grpc-status': '0' }
  }
  const aheadDate: GateAction = { rewrite: (a) => ({ ...a, headers: { ...a.headers, date: new Date(Date.now() + 3600_000).toUTCString() } }) }

  const cases: Case[] = [
    { alone: true, plane: 'identity', fault: 'connection refused', target: 'metadata', policy: 'refused', expect: { code: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'identity', fault: 'reset mid-response', target: 'metadata', policy: faults.always('reset'), expect: { code: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { alone: true, plane: 'identity', fault: 'accept and never answer', target: 'metadata', policy: faults.always('hang'), expect: { code: 'FST_CLOUD_SECRETS_TIMEOUT' } },
    { plane: 'identity', fault: 'slow drip', target: 'metadata', policy: faults.always('drip'), expect: { code: 'FST_CLOUD_SECRETS_TIMEOUT' } },
    { plane: 'identity', fault: '5xx (persistent)', target: 'metadata', policy: faults.always(meta(500, 'Internal error')), expect: { code: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'identity', fault: '5xx (twice, then well)', target: 'metadata', policy: faults.first(2, meta(503, 'Service unavailable')), expect: { ok: true } },
    { plane: 'identity', fault: 'throttled, no Retry-After (persistent)', target: 'metadata', policy: faults.always(meta(429, 'Too many requests')), expect: { code: 'FST_CLOUD_SECRETS_THROTTLED' } },
    { plane: 'identity', fault: 'throttled once, Retry-After 1 s', target: 'metadata', policy: faults.first(1, meta(429, 'Too many requests', { 'retry-after': '1' })), expect: { ok: true }, deadline: SLOW_DEADLINE },
    { plane: 'identity', fault: 'throttled, Retry-After beyond the deadline', target: 'metadata', policy: faults.always(meta(429, 'Too many requests', { 'retry-after': '30' })), expect: { code: 'FST_CLOUD_SECRETS_THROTTLED' }, fast: true },
    { plane: 'identity', fault: 'malformed JSON (token)', target: 'metadata', policy: faults.when(isToken, { status: 200, headers: { 'content-type': 'application/json', ...flavor }, body: malformed('access_token', leakedToken, { token_type: 'Bearer' }) }), expect: { code: 'FST_CLOUD_SECRETS_TOKEN' } },
    { plane: 'identity', fault: 'wrong content type (HTML 200, no Metadata-Flavor)', target: 'metadata', policy: faults.always(HTML_200), expect: { code: 'FST_CLOUD_SECRETS_TOKEN' } },
    { plane: 'identity', fault: 'expired credentials (a token Secret Manager finds expired)', target: 'metadata', policy: faults.when(isToken, expiredToken), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_TOKEN' } },
    { plane: 'identity', fault: 'clock skew (metadata server Date 1 h ahead)', target: 'metadata', policy: faults.always(aheadDate), expect: { ok: true } },
    { alone: true, plane: 'data', fault: 'connection refused', target: 'sm', policy: 'refused', expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'data', fault: 'reset mid-response (RST_STREAM)', target: 'sm', policy: faults.always('reset'), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { alone: true, plane: 'data', fault: 'accept and never answer', target: 'sm', policy: faults.always('hang'), expect: { code: 'FST_CLOUD_SECRETS_TIMEOUT' } },
    { plane: 'data', fault: 'slow drip', target: 'sm', policy: faults.always('drip'), expect: { code: 'FST_CLOUD_SECRETS_TIMEOUT' } },
    { plane: 'data', fault: 'gRPC UNAVAILABLE (persistent)', target: 'sm', policy: faults.always(grpcStatus(14, 'The service is currently unavailable.')), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'data', fault: 'gRPC UNAVAILABLE (twice, then well)', target: 'sm', policy: faults.first(2, grpcStatus(14, 'The service is currently unavailable.')), expect: { ok: true } },
    { plane: 'data', fault: 'RESOURCE_EXHAUSTED, no RetryInfo (persistent)', target: 'sm', policy: faults.always(grpcStatus(8, 'Quota exceeded for quota metric')), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_THROTTLED' } },
    { plane: 'data', fault: 'RESOURCE_EXHAUSTED once, RetryInfo 1 s', target: 'sm', policy: faults.first(1, grpcStatus(8, 'Quota exceeded for quota metric', 1)), expect: { ok: true }, deadline: SLOW_DEADLINE },
    { plane: 'data', fault: 'RESOURCE_EXHAUSTED, RetryInfo beyond the deadline', target: 'sm', policy: faults.always(grpcStatus(8, 'Quota exceeded for quota metric', 30)), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_THROTTLED' }, fast: true },
    { plane: 'data', fault: 'malformed proto', target: 'sm', policy: faults.always(malformedProto), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'data', fault: 'wrong content type (HTML 200)', target: 'sm', policy: faults.always(HTML_200), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_UNAVAILABLE' } },
    { plane: 'data', fault: 'expired credentials (UNAUTHENTICATED)', target: 'sm', policy: faults.always(grpcStatus(16, 'Request had invalid authentication credentials: the access token expired.')), expect: { code: 'FST_CLOUD_SECRETS_LOAD_FAILED', inner: 'FST_CLOUD_SECRETS_TOKEN' } },
    { plane: 'data', fault: 'clock skew (Secret Manager Date 1 h ahead)', target: 'sm', policy: faults.always(aheadDate), expect: { ok: true } }
  ]

  await runMatrix<Target>(t, {
    cases,
    deadline: DEADLINE,
    warm: warmUrls(WARM),
    targets: {
      metadata: { port: fakes.metadata.port, tls: false },
      sm: { port: fakes.secretManager.port, tls: true, gateTls: { key: fakes.pki.key, cert: fakes.pki.cert }, http2: true }
    },
    env: (c, port, deadline) => ({
      ...fakes.env,
      ...(c.target === 'sm' ? { FCS_TEST_REDIRECT: fakes.env.FCS_TEST_REDIRECT.replace(/^secretmanager\.googleapis\.com=127\.0\.0\.1:\d+/, `secretmanager.googleapis.com=127.0.0.1:${port}`) } : {}),
      K_SERVICE: 'api',
      GCE_METADATA_HOST: `127.0.0.1:${c.target === 'metadata' ? port : fakes.metadata.port}`,
      CLOUDSDK_CONFIG: gcloudConfig,
      CLOUD_SECRETS: 'db=db',
      CLOUD_SECRETS_TIMEOUT_MS: String(deadline)
    }),
    sensitive: () => [value, leakedToken, ...world.issued],
    parallel: 3,
    batches: 3
  })
})
