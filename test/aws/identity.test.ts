import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test, type Test } from 'tap'
import { FakeContainerCredentials, FakeImds, startAwsFakes, type AwsFakes } from '../fakes/aws/index.js'
import { assertNoLeak, errorText } from '../helpers/capture.js'
import { loopbackViolations, setEnv, startApp, tempFiles } from './helpers.js'

const READ = ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue']
let fakes: AwsFakes

test('setup', async () => {
  fakes = await startAwsFakes()
  fakes.world.putSecret('app/jwt', 'jwt-value-identity-0123')
  fakes.world.putSecret('app/db', JSON.stringify({ user: 'app', password: 'db-password-identity-0123' }))
})

const secrets = { jwt: 'app/jwt', dbPassword: 'app/db#password' }

async function expectLoaded (t: Test, expected: { source: string, principal: string, platform?: string }): Promise<void> {
  const { app, error, logs } = await startApp(t, { secrets })
  t.error(error, 'startup succeeds')
  if (error !== undefined) { t.comment(errorText(error)); return }
  t.equal(app.secrets.jwt, 'jwt-value-identity-0123')
  t.equal(app.secrets.dbPassword, 'db-password-identity-0123')
  t.equal(app.cloud.identity.source, expected.source, 'identity.source')
  t.equal(app.cloud.identity.principal, expected.principal, 'principal from STS GetCallerIdentity')
  t.equal(app.cloud.identity.account, '123456789012')
  t.equal(app.cloud.identity.region, 'us-east-1')
  t.equal(app.cloud.identity.platform, expected.platform ?? 'local')
  const res = await app.inject('/who')
  t.same(res.json(), { principal: expected.principal, same: true }, 'request.cloud is app.cloud')
  const info = logs.records().find((r) => r.msg === 'cloud secrets loaded')
  t.match(info, { source: expected.source, principal: expected.principal, secrets: 2 })
  assertNoLeak(t, logs.text() + JSON.stringify(app.cloud) + JSON.stringify(app.secrets), fakes.world.sensitive(), 'logs and identity')
}

test('aws:env — access keys in the environment', async (t) => {
  const keys = fakes.world.issue('arn:aws:iam::123456789012:user/ci', READ, { session: false })
  setEnv(t, { ...fakes.env, AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey })
  await expectLoaded(t, { source: 'aws:env', principal: 'arn:aws:iam::123456789012:user/ci' })
  t.same(fakes.sts.signingRegions.at(-1), 'us-east-1', 'STS is called in the configured region')
})

test('a wrong secret key: the fakes verify SigV4 (the SDK\'s own signer), STS refuses it and startup says TOKEN', async (t) => {
  const keys = fakes.world.issue('arn:aws:iam::123456789012:user/typo', READ, { session: false })
  const wrong = `${keys.secretAccessKey.slice(0, -1)}${keys.secretAccessKey.endsWith('A') ? 'B' : 'A'}`
  setEnv(t, { ...fakes.env, AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: wrong })
  const before = fakes.sts.count('GetCallerIdentity')
  const { error } = await startApp(t, { secrets })
  t.equal((error as { code?: string })?.code, 'FST_CLOUD_SECRETS_TOKEN', 'SignatureDoesNotMatch is a credential problem')
  t.match(errorText(error), /SignatureDoesNotMatch/)
  t.equal(fakes.sts.count('GetCallerIdentity') - before, 1, 'asked once: a refused signature is not retried')
  assertNoLeak(t, errorText(error), [wrong, keys.secretAccessKey], 'neither key in the error')
})

test('aws:env on Lambda — platform lambda, session token, expiry unknown', async (t) => {
  const keys = fakes.world.issue('arn:aws:sts::123456789012:assumed-role/fn-role/fn', READ)
  setEnv(t, { ...fakes.env, AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey, AWS_SESSION_TOKEN: keys.sessionToken, AWS_LAMBDA_FUNCTION_NAME: 'fn' })
  await expectLoaded(t, { source: 'aws:env', principal: 'arn:aws:sts::123456789012:assumed-role/fn-role/fn', platform: 'lambda' })
})

test('aws:profile — static keys written by `aws configure`', async (t) => {
  const keys = fakes.world.issue('arn:aws:iam::123456789012:user/dev', READ, { session: false })
  const dir = tempFiles({
    config: '[default]\nregion = us-east-1\noutput = json\n',
    credentials: `[default]\naws_access_key_id = ${keys.accessKeyId}\naws_secret_access_key = ${keys.secretAccessKey}\n`
  })
  setEnv(t, { ...fakes.env, AWS_REGION: undefined, AWS_CONFIG_FILE: join(dir, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials') })
  await expectLoaded(t, { source: 'aws:profile', principal: 'arn:aws:iam::123456789012:user/dev' })
})

test('aws:profile — role_arn + source_profile (STS AssumeRole)', async (t) => {
  const base = fakes.world.issue('arn:aws:iam::123456789012:user/base', [], { session: false })
  const role = fakes.world.role('app-reader', READ, { trusted: ['arn:aws:iam::123456789012:user/base'] })
  const dir = tempFiles({
    config: `[profile app]\nrole_arn = ${role.arn}\nsource_profile = base\nrole_session_name = laptop\nregion = us-east-1\n\n[profile base]\nregion = us-east-1\n`,
    credentials: `[base]\naws_access_key_id = ${base.accessKeyId}\naws_secret_access_key = ${base.secretAccessKey}\n`
  })
  const before = fakes.sts.count('AssumeRole')
  setEnv(t, { ...fakes.env, AWS_PROFILE: 'app', AWS_CONFIG_FILE: join(dir, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials') })
  await expectLoaded(t, { source: 'aws:profile', principal: 'arn:aws:sts::123456789012:assumed-role/app-reader/laptop' })
  t.equal(fakes.sts.count('AssumeRole') - before, 1, 'one AssumeRole call')
})

test('aws:process — credential_process', async (t) => {
  const keys = fakes.world.issue('arn:aws:sts::123456789012:assumed-role/vault-issued/dev', READ)
  const dir = tempFiles({
    'creds.json': JSON.stringify({ Version: 1, AccessKeyId: keys.accessKeyId, SecretAccessKey: keys.secretAccessKey, SessionToken: keys.sessionToken, Expiration: keys.expiration.toISOString() }),
    'proc.mjs': "import { readFileSync } from 'node:fs'\nprocess.stdout.write(readFileSync(new URL('./creds.json', import.meta.url), 'utf8'))\n"
  })
  writeFileSync(join(dir, 'config'), `[profile tool]\ncredential_process = node ${join(dir, 'proc.mjs')}\nregion = us-east-1\n`)
  setEnv(t, { ...fakes.env, AWS_PROFILE: 'tool', AWS_CONFIG_FILE: join(dir, 'config') })
  const { app, error } = await startApp(t, { secrets })
  t.error(error)
  t.equal(app.cloud.identity.source, 'aws:process')
  t.equal(app.cloud.identity.expiresAt, keys.expiration.toISOString(), 'expiry of the credential')
  t.same(app.cloud.identity.details, { profile: 'tool' })
})

test('aws:sso — IAM Identity Center profile with a cached token (after `aws sso login`)', async (t) => {
  const token = fakes.world.remember(`sso-token-${createHash('sha1').update(String(Math.random())).digest('hex')}`)
  fakes.world.ssoTokens.add(token)
  fakes.sso.options.allow = READ
  const home = tempFiles({})
  const cache = join(home, '.aws', 'sso', 'cache')
  mkdirSync(cache, { recursive: true })
  writeFileSync(join(cache, `${createHash('sha1').update('corp').digest('hex')}.json`), JSON.stringify({
    startUrl: 'https://corp.awsapps.com/start', region: 'us-east-1', accessToken: token, expiresAt: new Date(Date.now() + 3600_000).toISOString()
  }))
  writeFileSync(join(home, 'config'), '[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = ReadSecrets\nregion = us-east-1\n\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\nsso_registration_scopes = sso:account:access\n')
  setEnv(t, { ...fakes.env, HOME: home, AWS_PROFILE: 'dev', AWS_CONFIG_FILE: join(home, 'config') })
  await expectLoaded(t, { source: 'aws:sso', principal: 'arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_ReadSecrets_0123456789abcdef/dev@example.com' })
  t.equal(fakes.sso.count('GetRoleCredentials'), 1, 'the SSO portal was asked once')
})

test('aws:web-identity — EKS IRSA token file + AWS_ROLE_ARN', async (t) => {
  const token = fakes.world.remember(`eyJ${createHash('sha256').update(String(Math.random())).digest('base64url')}`)
  const role = fakes.world.role('irsa-app', READ, { webIdentityToken: token })
  const dir = tempFiles({ token })
  setEnv(t, { ...fakes.env, AWS_WEB_IDENTITY_TOKEN_FILE: join(dir, 'token'), AWS_ROLE_ARN: role.arn, AWS_ROLE_SESSION_NAME: 'pod-1', KUBERNETES_SERVICE_HOST: '10.0.0.1' })
  const before = fakes.sts.count('AssumeRoleWithWebIdentity')
  await expectLoaded(t, { source: 'aws:web-identity', principal: 'arn:aws:sts::123456789012:assumed-role/irsa-app/pod-1', platform: 'eks' })
  t.equal(fakes.sts.count('AssumeRoleWithWebIdentity') - before, 1)
})

test('aws:container — ECS task role (full URI + authorization token)', async (t) => {
  const secret = fakes.world.remember(`container-auth-${Math.random().toString(36).slice(2)}`)
  const container = await new FakeContainerCredentials(fakes.world, { principal: 'arn:aws:sts::123456789012:assumed-role/task-role/abc', allow: READ, token: secret }).start()
  t.teardown(() => container.close())
  setEnv(t, { ...fakes.env, AWS_CONTAINER_CREDENTIALS_FULL_URI: container.fullUri, AWS_CONTAINER_AUTHORIZATION_TOKEN: secret, ECS_CONTAINER_METADATA_URI_V4: 'http://169.254.170.2/v4/abc' })
  await expectLoaded(t, { source: 'aws:container', principal: 'arn:aws:sts::123456789012:assumed-role/task-role/abc', platform: 'ecs' })
  t.equal(container.count('credentials'), 1)
})

test('aws:container — EKS Pod Identity (token file)', async (t) => {
  const secret = fakes.world.remember(`pod-identity-${Math.random().toString(36).slice(2)}`)
  const container = await new FakeContainerCredentials(fakes.world, { principal: 'arn:aws:sts::123456789012:assumed-role/pod-role/eks-app', allow: READ, token: secret, path: '/v1/credentials' }).start()
  t.teardown(() => container.close())
  const dir = tempFiles({ token: secret })
  setEnv(t, { ...fakes.env, AWS_CONTAINER_CREDENTIALS_FULL_URI: container.fullUri, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: join(dir, 'token'), KUBERNETES_SERVICE_HOST: '10.0.0.1' })
  await expectLoaded(t, { source: 'aws:container', principal: 'arn:aws:sts::123456789012:assumed-role/pod-role/eks-app', platform: 'eks' })
})

test('aws:imds — EC2 instance profile over IMDSv2', async (t) => {
  const imds = await new FakeImds(fakes.world, { role: 'ec2-app', allow: READ }).start()
  t.teardown(() => imds.close())
  setEnv(t, { ...fakes.env, AWS_EC2_METADATA_DISABLED: undefined, AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url })
  await expectLoaded(t, { source: 'aws:imds', principal: 'arn:aws:sts::123456789012:assumed-role/ec2-app/i-0123456789abcdef0', platform: 'ec2' })
  t.ok(imds.count('token') >= 1, 'IMDSv2 session token requested')
  t.ok(imds.count('credentials') >= 1)
})

test('teardown', async (t) => {
  await fakes.close()
  t.same(loopbackViolations(), [], 'no connection left loopback')
})
