import { createHash } from 'node:crypto'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { test } from 'tap'
import { Deadline } from '../../src/deadline.js'
import { normalizeOptions } from '../../src/options.js'
import { createStepContext } from '../../src/loader.js'
import { createProvider } from '../../src/providers/aws/index.js'
import type { CloudSecretsError } from '../../src/errors.js'
import { FakeContainerCredentials, startAwsFakes, type AwsFakes } from '../fakes/aws/index.js'
import { assertNoLeak, errorText } from '../helpers/capture.js'
import { brief, loopbackViolations, setEnv, startApp, tempFiles } from './helpers.js'

const READ = ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue']
let fakes: AwsFakes

test('setup', async () => {
  fakes = await startAwsFakes()
  fakes.world.putSecret('app/jwt', 'jwt-value-nocreds-0123')
})

test('nothing configured → NO_CREDENTIALS listing every source and the local fix', async (t) => {
  setEnv(t, { ...fakes.env })
  const { error, logs } = await startApp(t, { secrets: { jwt: 'app/jwt' } })
  const err = error as CloudSecretsError
  t.equal(err?.code, 'FST_CLOUD_SECRETS_NO_CREDENTIALS')
  for (const source of ['aws:env', 'aws:sso', 'aws:profile', 'aws:process', 'aws:web-identity', 'aws:container', 'aws:imds']) {
    t.match(err.message, `  - ${source}: skipped`, `lists ${source}`)
  }
  t.match(err.message, 'AWS_EC2_METADATA_DISABLED is set')
  t.match(err.message, 'no profile "default"')
  t.match(err.fix, 'aws sso login --profile default')
  t.match(err.fix, 'aws configure')
  t.match(err.fix, 'ECS task role')
  t.equal(err.attempts?.length, 7)
  t.equal(fakes.sm.count('GetSecretValue') + fakes.sm.count('BatchGetSecretValue'), 0, 'no secret call without credentials')
  assertNoLeak(t, errorText(err) + logs.text(), fakes.world.sensitive(), 'error and logs')
})

test('SSO profile without a login → TOKEN with `aws sso login --profile dev`', async (t) => {
  const dir = tempFiles({ config: '[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = ReadSecrets\nregion = us-east-1\n\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n' })
  setEnv(t, { ...fakes.env, HOME: dir, AWS_PROFILE: 'dev', AWS_CONFIG_FILE: join(dir, 'config') })
  const { error } = await startApp(t, { secrets: { jwt: 'app/jwt' } })
  const err = error as CloudSecretsError
  t.equal(err?.code, 'FST_CLOUD_SECRETS_TOKEN', brief(err))
  t.match(err.message, 'aws:sso')
  t.match(err.fix, 'aws sso login --profile dev')
  t.match(err.attempts?.find((a) => a.source === 'aws:sso'), { outcome: 'failed' })
})

test('SSO token rejected by the portal → TOKEN', async (t) => {
  const home = tempFiles({ config: '[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = ReadSecrets\nregion = us-east-1\n\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n' })
  const { mkdirSync, writeFileSync } = await import('node:fs')
  mkdirSync(join(home, '.aws', 'sso', 'cache'), { recursive: true })
  const token = fakes.world.remember(`revoked-sso-token-${Math.random().toString(36).slice(2)}`)
  writeFileSync(join(home, '.aws', 'sso', 'cache', `${createHash('sha1').update('corp').digest('hex')}.json`), JSON.stringify({ startUrl: 'https://corp.awsapps.com/start', region: 'us-east-1', accessToken: token, expiresAt: new Date(Date.now() + 3600_000).toISOString() }))
  setEnv(t, { ...fakes.env, HOME: home, AWS_PROFILE: 'dev', AWS_CONFIG_FILE: join(home, 'config') })
  const { error, logs } = await startApp(t, { secrets: { jwt: 'app/jwt' } })
  const err = error as CloudSecretsError
  t.equal(err?.code, 'FST_CLOUD_SECRETS_TOKEN', brief(err))
  t.match(err.fix, 'aws sso login --profile dev')
  assertNoLeak(t, errorText(err) + logs.text(), [token], 'error and logs')
})

test('container endpoint refuses the token (403) → NO_CREDENTIALS with the endpoint\'s real reason', async (t) => {
  const container = await new FakeContainerCredentials(fakes.world, { principal: 'arn:aws:sts::123456789012:assumed-role/task/x', allow: READ, token: 'right-token' }).start()
  t.teardown(() => container.close())
  const wrong = fakes.world.remember(`wrong-token-${Math.random().toString(36).slice(2)}`)
  setEnv(t, { ...fakes.env, AWS_CONTAINER_CREDENTIALS_FULL_URI: container.fullUri, AWS_CONTAINER_AUTHORIZATION_TOKEN: wrong })
  const { error, logs } = await startApp(t, { secrets: { jwt: 'app/jwt' } })
  const err = error as CloudSecretsError
  t.equal(err?.code, 'FST_CLOUD_SECRETS_NO_CREDENTIALS', brief(err))
  t.match(err.message, /aws:container.*failed.*403/s, 'the real status, not "Could not load credentials from any providers"')
  t.match(err.message, 'Authorization token is missing or invalid')
  t.notMatch(err.summary, /Could not load credentials from any providers/)
  t.match(err.attempts?.find((a) => a.source === 'aws:container'), { outcome: 'failed', reason: /403/ })
  assertNoLeak(t, errorText(err) + logs.text(), [wrong, 'right-token'], 'error and logs')
})

test('container endpoint answers 500 → retried inside the deadline, then UNAVAILABLE', async (t) => {
  const container = await new FakeContainerCredentials(fakes.world, { principal: 'arn:aws:sts::123456789012:assumed-role/task/x', allow: READ }).start()
  t.teardown(() => container.close())
  container.faults = { serverErrors: 1000 }
  setEnv(t, { ...fakes.env, AWS_CONTAINER_CREDENTIALS_FULL_URI: container.fullUri })
  const { error } = await startApp(t, { secrets: { jwt: 'app/jwt' }, retry: { maxAttempts: 3 } })
  const err = error as CloudSecretsError
  t.equal(err?.code, 'FST_CLOUD_SECRETS_UNAVAILABLE', brief(err))
  t.match(err.message, /500/)
  t.ok(container.count('credentials') >= 3, `the endpoint was asked again (${container.count('credentials')} requests)`)
})

test('container endpoint fails once, then answers → starts', async (t) => {
  const container = await new FakeContainerCredentials(fakes.world, { principal: 'arn:aws:sts::123456789012:assumed-role/task/y', allow: READ }).start()
  t.teardown(() => container.close())
  container.faults = { serverErrors: 1 }
  setEnv(t, { ...fakes.env, AWS_CONTAINER_CREDENTIALS_FULL_URI: container.fullUri })
  const { app, error } = await startApp(t, { secrets: { jwt: 'app/jwt' } })
  t.error(error)
  t.equal(app.cloud.identity.principal, 'arn:aws:sts::123456789012:assumed-role/task/y')
  t.equal(app.secrets.jwt, 'jwt-value-nocreds-0123')
})

test('container endpoint not listening → UNAVAILABLE naming the endpoint', async (t) => {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  setEnv(t, { ...fakes.env, AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${port}/creds` })
  const { error } = await startApp(t, { secrets: { jwt: 'app/jwt' }, retry: { maxAttempts: 2 } })
  const err = error as CloudSecretsError
  t.equal(err?.code, 'FST_CLOUD_SECRETS_UNAVAILABLE', brief(err))
  t.match(err.message, `http://127.0.0.1:${port}/creds`)
  t.match(err.fix, 'container credentials endpoint')
})

test('IRSA with a rejected web identity token → TOKEN naming the trust policy', async (t) => {
  const role = fakes.world.role('irsa-bad', READ, { webIdentityToken: 'the-expected-token-123' })
  const sent = fakes.world.remember(`eyJ-stale-${Math.random().toString(36).slice(2)}`)
  const dir = tempFiles({ token: sent })
  setEnv(t, { ...fakes.env, AWS_WEB_IDENTITY_TOKEN_FILE: join(dir, 'token'), AWS_ROLE_ARN: role.arn })
  const { error, logs } = await startApp(t, { secrets: { jwt: 'app/jwt' } })
  const err = error as CloudSecretsError
  t.equal(err?.code, 'FST_CLOUD_SECRETS_TOKEN', brief(err))
  t.match(err.message, 'InvalidIdentityToken')
  t.match(err.message, role.arn)
  t.match(err.fix, 'trust policy')
  assertNoLeak(t, errorText(err) + logs.text(), [sent, 'the-expected-token-123'], 'error and logs')
})

test('expired env credentials → TOKEN at GetCallerIdentity', async (t) => {
  const keys = fakes.world.issue('arn:aws:sts::123456789012:assumed-role/dev/old', READ)
  fakes.world.expire(keys.accessKeyId)
  setEnv(t, { ...fakes.env, AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey, AWS_SESSION_TOKEN: keys.sessionToken })
  const { error, logs } = await startApp(t, { secrets: { jwt: 'app/jwt' } })
  const err = error as CloudSecretsError
  t.equal(err?.code, 'FST_CLOUD_SECRETS_TOKEN', brief(err))
  t.match(err.message, 'ExpiredToken')
  t.match(err.message, 'aws:env')
  t.match(err.fix, 'AWS_ACCESS_KEY_ID')
  assertNoLeak(t, errorText(err) + logs.text(), fakes.world.sensitive(), 'error and logs')
})

test('no region anywhere → CONFIG before any network call', async (t) => {
  setEnv(t, { ...fakes.env, AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined })
  const before = fakes.sts.count('GetCallerIdentity')
  const { error } = await startApp(t, { secrets: { jwt: 'app/jwt' } })
  t.equal((error as CloudSecretsError)?.code, 'FST_CLOUD_SECRETS_CONFIG')
  t.match(error?.message, 'AWS_REGION')
  t.equal(fakes.sts.count('GetCallerIdentity'), before)
})

test('attempts(): the winner is ok, earlier sources skipped with reasons, later not tried', async (t) => {
  const container = await new FakeContainerCredentials(fakes.world, { principal: 'arn:aws:sts::123456789012:assumed-role/task/z', allow: READ }).start()
  t.teardown(() => container.close())
  setEnv(t, { ...fakes.env, AWS_CONTAINER_CREDENTIALS_FULL_URI: container.fullUri })
  const config = normalizeOptions({ provider: 'aws', secrets: { jwt: 'app/jwt' } }, { pluginTimeout: 10_000 })
  const provider = await createProvider({ config, log: (await import('fastify')).default().log })
  t.teardown(() => provider.close())
  t.same(provider.attempts?.(), [], 'nothing tried before resolveIdentity')
  const deadline = new Deadline(5000)
  t.teardown(() => deadline.dispose())
  const identity = await provider.resolveIdentity(createStepContext(deadline, (await import('fastify')).default().log))
  t.equal(identity.source, 'aws:container')
  t.match(identity.expiresAt, /^\d{4}-\d\d-\d\dT/)
  const attempts = provider.attempts?.() ?? []
  t.same(attempts.map((a) => `${a.source}:${a.outcome}`), ['aws:env:skipped', 'aws:sso:skipped', 'aws:profile:skipped', 'aws:process:skipped', 'aws:web-identity:skipped', 'aws:container:ok', 'aws:imds:skipped'])
  t.match(attempts[5].reason, 'AWS_CONTAINER_CREDENTIALS_FULL_URI is set; credentials obtained, valid until')
  t.match(attempts[6].reason, 'not tried')
  const grant = provider.grant?.(config.references, identity) ?? []
  t.equal(grant[0].format, 'json')
  t.match(JSON.parse(grant[0].text), { Statement: [{ Action: 'secretsmanager:GetSecretValue', Resource: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:app/jwt-??????' }] })
  t.match(grant[1].text, 'aws iam put-role-policy --role-name task')
})

test('teardown', async (t) => {
  await fakes.close()
  t.same(loopbackViolations(), [], 'no connection left loopback')
})
