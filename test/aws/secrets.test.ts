import { test, type Test } from 'tap'
import type { CloudSecretsError } from '../../src/errors.js'
import { startAwsFakes, type AwsFakes } from '../fakes/aws/index.js'
import { assertNoLeak, errorText, randomSecret } from '../helpers/capture.js'
import { brief, loopbackViolations, setEnv, startApp } from './helpers.js'

const USER = 'arn:aws:iam::123456789012:user/app'
let fakes: AwsFakes

test('setup', async () => {
  fakes = await startAwsFakes()
})

/** env credentials for a principal with `allow`; resets the fakes' counters */
function as (t: Test, allow: string[], arn = USER): { accessKeyId: string } {
  const keys = fakes.world.issue(arn, allow, { session: false })
  setEnv(t, { ...fakes.env, AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey })
  for (const k of Object.keys(fakes.sm.counts)) delete fakes.sm.counts[k]
  fakes.sm.faults = {}
  return keys
}

const READ_ALL = ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue']

test('names, full and partial ARNs, versions, stages, binary and #json.key', async (t) => {
  const current = randomSecret('cur')
  const previous = randomSecret('prev')
  const pinned = randomSecret('pinned')
  const bytes = Buffer.from([0, 1, 2, 250, 255, 128, 7])
  const key = fakes.world.putSecret('svc/api-key', [
    { value: current, stages: ['AWSCURRENT'] },
    { value: previous, stages: ['AWSPREVIOUS', 'blue'] },
    { id: 'a1b2c3d4-0000-1111-2222-333344445555', value: pinned, stages: [] }
  ])
  const db = fakes.world.putSecret('svc/db', JSON.stringify({ user: 'svc', password: randomSecret('pw'), nested: { port: 5432 } }))
  fakes.world.putSecret('svc/cert', bytes)
  as(t, READ_ALL)
  const { app, error, logs } = await startApp(t, {
    secrets: {
      current: 'svc/api-key',
      previous: 'svc/api-key?stage=AWSPREVIOUS',
      blue: 'svc/api-key?stage=blue',
      pinned: 'svc/api-key?version=a1b2c3d4-0000-1111-2222-333344445555',
      byArn: key.arn,
      byPartialArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:svc/db#user',
      password: 'svc/db#password',
      port: 'aws://svc/db#nested.port',
      cert: 'svc/cert'
    }
  })
  t.error(error, brief(error))
  t.equal(app.secrets.current, current)
  t.equal(app.secrets.previous, previous)
  t.equal(app.secrets.blue, previous)
  t.equal(app.secrets.pinned, pinned)
  t.equal(app.secrets.byArn, current)
  t.equal(app.secrets.byPartialArn, 'svc')
  t.equal(app.secrets.password, JSON.parse(db.versions[0].string as string).password)
  t.equal(app.secrets.port, '5432')
  t.equal(app.secrets.cert, bytes.toString('base64'), 'SecretBinary is returned as base64')
  t.same(Buffer.from(app.secrets.cert as string, 'base64'), bytes, 'losslessly')
  t.equal(fakes.sm.count('GetSecretValue'), 3, 'pinned references (stage/version) are single calls')
  t.equal(fakes.sm.count('BatchGetSecretValue'), 1, 'the unpinned ones share one batch call')
  assertNoLeak(t, logs.text() + JSON.stringify(app.secrets) + JSON.stringify(app.cloud), fakes.world.sensitive(), 'logs and serialized app state')
})

test('25 secrets → 2 BatchGetSecretValue calls and no single call', async (t) => {
  const secrets: Record<string, string> = {}
  for (let i = 0; i < 25; i++) {
    fakes.world.putSecret(`bulk/s${i}`, `bulk-value-${i}-${randomSecret()}`)
    secrets[`s${i}`] = `bulk/s${i}`
  }
  as(t, READ_ALL)
  fakes.sm.faults = { latencyMs: 30 }
  const { app, error } = await startApp(t, { secrets })
  t.error(error)
  t.equal(Object.keys(app.secrets).length, 25)
  t.match(app.secrets.s24, /^bulk-value-24-/)
  t.equal(fakes.sm.count('BatchGetSecretValue'), 2, '20 + 5')
  t.equal(fakes.sm.count('GetSecretValue'), 0)
})

test('one unpinned secret → a single GetSecretValue (no batch permission needed)', async (t) => {
  fakes.world.putSecret('solo', 'solo-value-0123456789')
  as(t, ['secretsmanager:GetSecretValue:solo'])
  const { app, error } = await startApp(t, { secrets: { solo: 'solo' } })
  t.error(error)
  t.equal(app.secrets.solo, 'solo-value-0123456789')
  t.same(fakes.sm.counts, { GetSecretValue: 1 })
})

test('BatchGetSecretValue denied → single calls, said once at info', async (t) => {
  const secrets: Record<string, string> = {}
  for (let i = 0; i < 25; i++) secrets[`s${i}`] = `bulk/s${i}`
  as(t, ['secretsmanager:GetSecretValue'])
  const { app, error, logs } = await startApp(t, { secrets })
  t.error(error)
  t.match(app.secrets.s0, /^bulk-value-0-/)
  t.equal(fakes.sm.count('GetSecretValue'), 25, 'every secret read singly')
  t.ok(fakes.sm.count('BatchGetSecretValue') >= 1 && fakes.sm.count('BatchGetSecretValue') <= 2, 'the batch was tried')
  const lines = logs.records().filter((r) => String(r.msg).includes('BatchGetSecretValue is not allowed'))
  t.equal(lines.length, 1, 'logged exactly once')
  t.equal(lines[0]?.level, 30, 'at info')
  t.equal(lines[0]?.principal, USER)
})

test('per-item Errors of a batch: every failure reported, the rest loaded', async (t) => {
  fakes.world.putSecret('mix/ok', 'mix-ok-value-0123456')
  fakes.world.putSecret('mix/forbidden', 'mix-forbidden-value-0123')
  as(t, ['secretsmanager:BatchGetSecretValue', 'secretsmanager:GetSecretValue:mix/ok', 'secretsmanager:GetSecretValue:mix/missing'])
  const { error, logs } = await startApp(t, { secrets: { ok: 'mix/ok', missing: 'mix/missing', forbidden: 'mix/forbidden', gone: 'mix/missing?optional' } })
  const err = error as CloudSecretsError
  t.equal(err?.code, 'FST_CLOUD_SECRETS_LOAD_FAILED', brief(err))
  t.same(err.errors?.map((e) => `${e.alias}:${e.code}`).sort(), ['forbidden:FST_CLOUD_SECRETS_ACCESS_DENIED', 'missing:FST_CLOUD_SECRETS_NOT_FOUND'])
  t.equal(fakes.sm.count('BatchGetSecretValue'), 1)
  t.equal(fakes.sm.count('GetSecretValue'), 0, 'item errors are final, not retried singly')
  t.ok(logs.records().some((r) => r.level === 40 && r.alias === 'gone'), 'absent optional secret warned')
  assertNoLeak(t, errorText(err) + logs.text(), fakes.world.sensitive(), 'error and logs')
})

test('ACCESS_DENIED names principal, secret, action, and the exact policy for the configured secrets', async (t) => {
  fakes.world.putSecret('acl/a', 'acl-a-value-0123456')
  fakes.world.putSecret('acl/b', 'acl-b-value-0123456')
  as(t, ['secretsmanager:GetSecretValue:acl/a'], 'arn:aws:sts::123456789012:assumed-role/web-task/abc')
  const { error } = await startApp(t, { secrets: { a: 'acl/a', b: 'acl/b?stage=AWSCURRENT' } })
  const err = error as CloudSecretsError
  t.equal(err?.code, 'FST_CLOUD_SECRETS_LOAD_FAILED')
  const denied = err.errors?.[0] as CloudSecretsError
  t.equal(denied.code, 'FST_CLOUD_SECRETS_ACCESS_DENIED')
  t.equal(denied.alias, 'b')
  t.equal(denied.secret, 'acl/b')
  t.equal(denied.principal, 'arn:aws:sts::123456789012:assumed-role/web-task/abc')
  t.equal(denied.permission, 'secretsmanager:GetSecretValue')
  t.match(denied.message, 'arn:aws:sts::123456789012:assumed-role/web-task/abc is not allowed secretsmanager:GetSecretValue on secret "acl/b" stage AWSCURRENT')
  const policy = JSON.parse(/\{[\s\S]*\n\}/.exec(denied.fix)?.[0] ?? '{}')
  t.same(policy, {
    Version: '2012-10-17',
    Statement: [{ Sid: 'ReadConfiguredSecrets', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: ['arn:aws:secretsmanager:us-east-1:123456789012:secret:acl/a-??????', 'arn:aws:secretsmanager:us-east-1:123456789012:secret:acl/b-??????'] }]
  }, 'least privilege: exactly the configured secrets, no batch action (not used here), no wildcard')
  t.match(denied.fix, 'aws iam put-role-policy --role-name web-task --policy-name fastify-cloud-secrets --policy-document file://policy.json')
  t.match(err.message, 'acl/b')
})

test('DecryptionFailure → ACCESS_DENIED naming kms:Decrypt', async (t) => {
  fakes.world.putSecret('kms/secret', 'kms-secret-value-0123', { kmsKeyId: 'arn:aws:kms:us-east-1:123456789012:key/1111-2222' })
  as(t, ['secretsmanager:GetSecretValue'])
  const { error } = await startApp(t, { secrets: { k: 'kms/secret' } })
  const denied = (error as CloudSecretsError).errors?.[0] as CloudSecretsError
  t.equal(denied?.code, 'FST_CLOUD_SECRETS_ACCESS_DENIED', brief(error))
  t.equal(denied.permission, 'kms:Decrypt')
  t.match(denied.message, 'kms:Decrypt')
  t.match(denied.fix, 'aws secretsmanager describe-secret --secret-id kms/secret --region us-east-1 --query KmsKeyId')
  t.match(denied.fix, '"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"')
})

test('NOT_FOUND for a missing secret and for a missing version', async (t) => {
  fakes.world.putSecret('nf/exists', 'nf-exists-value-0123')
  as(t, READ_ALL)
  const { error } = await startApp(t, { secrets: { missing: 'nf/none', badVersion: 'nf/exists?version=00000000-dead-beef-0000-000000000000' } })
  const errors = (error as CloudSecretsError).errors ?? []
  t.same(errors.map((e) => `${e.alias}:${e.kind}`).sort(), ['badVersion:NOT_FOUND', 'missing:NOT_FOUND'])
  const missing = errors.find((e) => e.alias === 'missing') as CloudSecretsError
  t.match(missing.fix, 'aws secretsmanager create-secret --name nf/none --region us-east-1')
  const version = errors.find((e) => e.alias === 'badVersion') as CloudSecretsError
  t.match(version.fix, 'aws secretsmanager list-secret-version-ids --secret-id nf/exists --region us-east-1')
})

test('throttling is retried inside the deadline, then succeeds', async (t) => {
  fakes.world.putSecret('thr/a', 'thr-a-value-0123456')
  as(t, READ_ALL)
  fakes.sm.faults = { throttles: 2 }
  const { app, error } = await startApp(t, { secrets: { a: 'thr/a' } })
  t.error(error)
  t.equal(app.secrets.a, 'thr-a-value-0123456')
  t.equal(fakes.sm.count('GetSecretValue'), 3, '2 throttled + 1 answered: the SDK itself does not retry (maxAttempts 1)')
})

test('throttling until the attempts run out → THROTTLED', async (t) => {
  as(t, READ_ALL)
  fakes.sm.faults = { throttles: 1000 }
  const { error } = await startApp(t, { secrets: { a: 'thr/a' }, retry: { maxAttempts: 3 } })
  const e = (error as CloudSecretsError).errors?.[0]
  t.equal(e?.code, 'FST_CLOUD_SECRETS_THROTTLED', brief(error))
  t.equal(fakes.sm.count('GetSecretValue'), 3)
})

test('Retry-After beyond the deadline → THROTTLED at once, saying so', async (t) => {
  as(t, READ_ALL)
  fakes.sm.faults = { throttles: 1000, retryAfter: '30' }
  const { error } = await startApp(t, { secrets: { a: 'thr/a' }, timeoutMs: 3000 })
  const e = (error as CloudSecretsError).errors?.[0]
  t.equal(e?.code, 'FST_CLOUD_SECRETS_THROTTLED', brief(error))
  t.match(e?.message, 'retry after 30 s')
  t.equal(fakes.sm.count('GetSecretValue'), 1)
})

test('5xx until the attempts run out → UNAVAILABLE; a batch 5xx is retried as a batch', async (t) => {
  fakes.world.putSecret('five/a', 'five-a-value-0123456')
  fakes.world.putSecret('five/b', 'five-b-value-0123456')
  as(t, READ_ALL)
  fakes.sm.faults = { serverErrors: 1000 }
  const { error } = await startApp(t, { secrets: { a: 'five/a', b: 'five/b' }, retry: { maxAttempts: 2 } })
  const errors = (error as CloudSecretsError).errors ?? []
  t.same(errors.map((e) => `${e.alias}:${e.code}`).sort(), ['a:FST_CLOUD_SECRETS_UNAVAILABLE', 'b:FST_CLOUD_SECRETS_UNAVAILABLE'], brief(error))
  t.match(errors.find((e) => e.alias === 'a')?.message, 'secretsmanager:BatchGetSecretValue on secrets "five/a", "five/b" failed')
  t.equal(fakes.sm.count('BatchGetSecretValue'), 2)
  t.equal(fakes.sm.count('GetSecretValue'), 0)
})

test('credentials rejected by Secrets Manager → TOKEN', async (t) => {
  fakes.world.putSecret('tok/a', 'tok-a-value-0123456')
  const keys = as(t, READ_ALL)
  const { error } = await startApp(t, { secrets: { a: 'tok/a' }, checks: { custom: { expireKeys: () => { fakes.world.expire(keys.accessKeyId) } } } })
  const e = (error as CloudSecretsError).errors?.[0]
  t.equal(e?.code, 'FST_CLOUD_SECRETS_TOKEN', brief(error))
  t.match(e?.message, 'ExpiredTokenException')
  t.match(e?.fix, 'AWS_ACCESS_KEY_ID')
})

test('AWS_ENDPOINT_URL_SECRETS_MANAGER is honoured (the plugin sets no endpoint)', async (t) => {
  fakes.world.putSecret('ep/a', 'ep-a-value-0123456')
  as(t, READ_ALL)
  const onlySts = fakes.redirect.split(',').filter((r) => !r.startsWith('secretsmanager.')).join(',')
  setEnv(t, { FCS_TEST_REDIRECT: onlySts, AWS_ENDPOINT_URL_SECRETS_MANAGER: fakes.sm.url })
  const { app, error } = await startApp(t, { secrets: { a: 'ep/a' } })
  t.error(error, brief(error))
  t.equal(app.secrets.a, 'ep-a-value-0123456')
  t.equal(fakes.sm.count('GetSecretValue'), 1)
})

test('teardown', async (t) => {
  await fakes.close()
  t.same(loopbackViolations(), [], 'no connection left loopback')
})
