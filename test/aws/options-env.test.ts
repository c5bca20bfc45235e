import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test, type Test } from 'tap'
import { FakeContainerCredentials, FakeImds, startAwsFakes, type AwsFakes } from '../fakes/aws/index.js'
import { errorText } from '../helpers/capture.js'
import { brief, loopbackViolations, setEnv, startApp, tempFiles } from './helpers.js'

// Issue 13: with options.env, every AWS credential source, endpoint and SDK client setting comes
// from that env. process.env meanwhile holds AWS settings that would fail the boot (or name
// another principal) if anything read them.

const READ = ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue']
let fakes: AwsFakes
let decoy: FakeContainerCredentials
let processDir: string

test('setup', async () => {
  // the SDK's modules load before any boot's clock starts (a loaded machine must not time the imports)
  await (await import('../../src/providers/aws/sdk.js')).warm()
  fakes = await startAwsFakes()
  fakes.world.putSecret('app/jwt', 'jwt-value-options-env-0123')
  decoy = await new FakeContainerCredentials(fakes.world, { principal: 'arn:aws:sts::123456789012:assumed-role/decoy-role/process-env', allow: READ }).start()
  const decoyKeys = fakes.world.issue('arn:aws:iam::123456789012:user/process-env-profile', READ, { session: false })
  processDir = tempFiles({
    config: '[profile dev]\nregion = eu-west-3\n',
    credentials: `[dev]\naws_access_key_id = ${decoyKeys.accessKeyId}\naws_secret_access_key = ${decoyKeys.secretAccessKey}\n`
  })
})

const secrets = { jwt: 'app/jwt' }

/** process.env as a host with other AWS settings would have it; only the test harness's own vars are kept */
function hostileProcessEnv (t: Test): void {
  const keys = fakes.world.issue('arn:aws:iam::123456789012:user/process-env', READ, { session: false })
  setEnv(t, {
    FCS_TEST_REDIRECT: fakes.redirect,
    FCS_TEST_CA_FILE: fakes.pki.caFile,
    AWS_REGION: 'eu-west-3',
    AWS_PROFILE: 'dev',
    AWS_CONFIG_FILE: join(processDir, 'config'),
    AWS_SHARED_CREDENTIALS_FILE: join(processDir, 'credentials'),
    AWS_ACCESS_KEY_ID: keys.accessKeyId,
    AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
    AWS_CONTAINER_CREDENTIALS_FULL_URI: decoy.fullUri,
    AWS_WEB_IDENTITY_TOKEN_FILE: join(processDir, 'no-such-token'),
    AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/process-env',
    AWS_ROLE_SESSION_NAME: 'process-env',
    // the SDK clients would go here (or to FIPS hosts the fakes do not serve) if they read process.env
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
    AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:9',
    AWS_ENDPOINT_URL_SECRETS_MANAGER: 'http://127.0.0.1:9',
    AWS_USE_FIPS_ENDPOINT: 'true'
  })
}

/** options.env: only what the app gives, nothing of process.env */
function given (vars: Record<string, string>): Record<string, string> {
  return { AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true', HOME: tempFiles({}), ...vars }
}

async function expectFrom (t: Test, env: Record<string, string>, expected: { source: string, principal: string }): Promise<void> {
  const decoyCalls = decoy.count('credentials')
  const { app, error } = await startApp(t, { secrets, env })
  t.error(error, 'startup succeeds')
  if (error !== undefined) { t.comment(errorText(error)); return }
  t.equal(app.secrets.jwt, 'jwt-value-options-env-0123', 'Secrets Manager reached at the endpoint options.env implies')
  t.equal(app.cloud.identity.source, expected.source)
  t.equal(app.cloud.identity.principal, expected.principal, 'the principal of the credentials in options.env')
  t.equal(app.cloud.identity.region, 'us-east-1', 'the region of options.env')
  t.equal(decoy.count('credentials') - decoyCalls, 0, 'the container endpoint of process.env was not called')
}

test('aws:env — keys in options.env; process.env has AWS_PROFILE (which would skip them), other keys, endpoints, FIPS', async (t) => {
  hostileProcessEnv(t)
  const keys = fakes.world.issue('arn:aws:iam::123456789012:user/options-env', READ, { session: false })
  await expectFrom(t, given({ AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey, AWS_ACCOUNT_ID: '123456789012' }), { source: 'aws:env', principal: 'arn:aws:iam::123456789012:user/options-env' })
})

test('aws:profile — shared files and AWS_PROFILE in options.env; process.env names another profile and files', async (t) => {
  hostileProcessEnv(t)
  const keys = fakes.world.issue('arn:aws:iam::123456789012:user/options-env-profile', READ, { session: false })
  const dir = tempFiles({
    config: '[profile app]\nregion = us-east-1\n',
    credentials: `[app]\naws_access_key_id = ${keys.accessKeyId}\naws_secret_access_key = ${keys.secretAccessKey}\n`
  })
  await expectFrom(t, given({ AWS_PROFILE: 'app', AWS_CONFIG_FILE: join(dir, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'credentials') }), { source: 'aws:profile', principal: 'arn:aws:iam::123456789012:user/options-env-profile' })
})

test('aws:profile — the default files under options.env HOME', async (t) => {
  hostileProcessEnv(t)
  const keys = fakes.world.issue('arn:aws:iam::123456789012:user/options-env-home', READ, { session: false })
  const home = tempFiles({})
  const aws = join(home, '.aws')
  mkdirSync(aws)
  writeFileSync(join(aws, 'credentials'), `[default]\naws_access_key_id = ${keys.accessKeyId}\naws_secret_access_key = ${keys.secretAccessKey}\n`)
  await expectFrom(t, given({ HOME: home }), { source: 'aws:profile', principal: 'arn:aws:iam::123456789012:user/options-env-home' })
})

test('aws:profile — a `~/` file path of options.env is under its HOME, not the HOME of process.env', async (t) => {
  hostileProcessEnv(t)
  const keys = fakes.world.issue('arn:aws:iam::123456789012:user/options-env-tilde', READ, { session: false })
  const home = tempFiles({ 'team-credentials': `[default]\naws_access_key_id = ${keys.accessKeyId}\naws_secret_access_key = ${keys.secretAccessKey}\n` })
  await expectFrom(t, given({ HOME: home, AWS_SHARED_CREDENTIALS_FILE: '~/team-credentials' }), { source: 'aws:profile', principal: 'arn:aws:iam::123456789012:user/options-env-tilde' })
})

test('aws:sso — the profile and config file of options.env; the token cache where the SDK reads it (HOME of process.env)', async (t) => {
  hostileProcessEnv(t)
  const token = fakes.world.remember(`sso-token-${createHash('sha1').update(String(Math.random())).digest('hex')}`)
  fakes.world.ssoTokens.add(token)
  fakes.sso.options.allow = READ
  const processHome = tempFiles({})
  const cache = join(processHome, '.aws', 'sso', 'cache')
  mkdirSync(cache, { recursive: true })
  writeFileSync(join(cache, `${createHash('sha1').update('corp').digest('hex')}.json`), JSON.stringify({
    startUrl: 'https://corp.awsapps.com/start', region: 'us-east-1', accessToken: token, expiresAt: new Date(Date.now() + 3600_000).toISOString()
  }))
  // the SSO client the SDK builds reads AWS_ENDPOINT_URL from process.env (README: what still does):
  // only that one is cleared; AWS_USE_FIPS_ENDPOINT=true stays, and options.env's false is what counts
  setEnv(t, { HOME: processHome, AWS_ENDPOINT_URL: undefined })
  const dir = tempFiles({ config: '[profile corpdev]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = ReadSecrets\nregion = us-east-1\n\n[sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n' })
  const before = fakes.sso.count('GetRoleCredentials')
  await expectFrom(t, given({ AWS_PROFILE: 'corpdev', AWS_CONFIG_FILE: join(dir, 'config') }), { source: 'aws:sso', principal: 'arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_ReadSecrets_0123456789abcdef/dev@example.com' })
  t.equal(fakes.sso.count('GetRoleCredentials') - before, 1)
})

test('aws:container — full URI and token in options.env; process.env points at another endpoint', async (t) => {
  hostileProcessEnv(t)
  const token = fakes.world.remember(`container-auth-${Math.random().toString(36).slice(2)}`)
  const container = await new FakeContainerCredentials(fakes.world, { principal: 'arn:aws:sts::123456789012:assumed-role/task-role/options-env', allow: READ, token }).start()
  t.teardown(() => container.close())
  setEnv(t, { AWS_CONTAINER_AUTHORIZATION_TOKEN: 'wrong-token-from-process-env' })
  await expectFrom(t, given({ AWS_CONTAINER_CREDENTIALS_FULL_URI: container.fullUri, AWS_CONTAINER_AUTHORIZATION_TOKEN: token }), { source: 'aws:container', principal: 'arn:aws:sts::123456789012:assumed-role/task-role/options-env' })
  t.equal(container.count('credentials'), 1, 'one credential request, to the endpoint of options.env')
})

test('aws:container — no token in options.env: the token of process.env is not sent', async (t) => {
  hostileProcessEnv(t)
  const token = fakes.world.remember(`container-auth-${Math.random().toString(36).slice(2)}`)
  const container = await new FakeContainerCredentials(fakes.world, { principal: 'arn:aws:sts::123456789012:assumed-role/task-role/options-env', allow: READ, token }).start()
  t.teardown(() => container.close())
  setEnv(t, { AWS_CONTAINER_AUTHORIZATION_TOKEN: token })
  const { error } = await startApp(t, { secrets, env: given({ AWS_CONTAINER_CREDENTIALS_FULL_URI: container.fullUri }) })
  t.ok(error, 'startup fails')
  t.match(brief(error), /aws:container/, brief(error))
  t.match(errorText(error), /Authorization token is missing/, 'the request carried no token (401), not the wrong one')
  t.ok(container.count('credentials') >= 1)
})

test('aws:web-identity — token file, role and session name in options.env; STS endpoint from options.env', async (t) => {
  hostileProcessEnv(t)
  const token = fakes.world.remember(`eyJ${createHash('sha256').update(String(Math.random())).digest('base64url')}`)
  const role = fakes.world.role('irsa-options-env', READ, { webIdentityToken: token })
  const dir = tempFiles({ token })
  const before = fakes.sts.count('AssumeRoleWithWebIdentity')
  await expectFrom(t, given({ AWS_WEB_IDENTITY_TOKEN_FILE: join(dir, 'token'), AWS_ROLE_ARN: role.arn, AWS_ROLE_SESSION_NAME: 'pod-options-env' }), { source: 'aws:web-identity', principal: 'arn:aws:sts::123456789012:assumed-role/irsa-options-env/pod-options-env' })
  t.equal(fakes.sts.count('AssumeRoleWithWebIdentity') - before, 1)
})

test('aws:process — a credential_process profile in options.env runs with options.env as its environment', async (t) => {
  hostileProcessEnv(t)
  const keys = fakes.world.issue('arn:aws:sts::123456789012:assumed-role/helper-issued/options-env', READ)
  const dir = tempFiles({
    'creds.json': JSON.stringify({ Version: 1, AccessKeyId: keys.accessKeyId, SecretAccessKey: keys.secretAccessKey, SessionToken: keys.sessionToken, Expiration: keys.expiration.toISOString() }),
    // prints the credentials only when it runs with options.env (the test guard strips AWS_* in node children: a marker tells)
    'proc.mjs': "import { readFileSync } from 'node:fs'\nif (process.env.FCS_ENV_MARKER !== 'options-env') process.exit(7)\nprocess.stdout.write(readFileSync(new URL('./creds.json', import.meta.url), 'utf8'))\n"
  })
  setEnv(t, { FCS_ENV_MARKER: 'process-env' })
  writeFileSync(join(dir, 'config'), `[profile tool]\ncredential_process = ${process.execPath} ${join(dir, 'proc.mjs')}\nregion = us-east-1\n`)
  await expectFrom(t, given({ AWS_PROFILE: 'tool', AWS_CONFIG_FILE: join(dir, 'config'), FCS_ENV_MARKER: 'options-env' }), { source: 'aws:process', principal: 'arn:aws:sts::123456789012:assumed-role/helper-issued/options-env' })
})

test('aws:imds — options.env does not disable IMDS (process.env does): the chain and the plan use IMDS at the endpoint the SDK reads', async (t) => {
  hostileProcessEnv(t)
  const imds = await new FakeImds(fakes.world, { role: 'ec2-app', allow: READ }).start()
  t.teardown(() => imds.close())
  setEnv(t, { AWS_EC2_METADATA_DISABLED: 'true', AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url })
  const { AWS_EC2_METADATA_DISABLED: _, ...env } = given({})
  await expectFrom(t, env, { source: 'aws:imds', principal: 'arn:aws:sts::123456789012:assumed-role/ec2-app/i-0123456789abcdef0' })
  t.ok(imds.count('credentials') >= 1)
})

test('nothing in options.env: NO_CREDENTIALS, though process.env has keys, a profile and a container endpoint', async (t) => {
  hostileProcessEnv(t)
  const decoyCalls = decoy.count('credentials')
  const { error } = await startApp(t, { secrets, env: given({}) })
  t.equal((error as { code?: string } | undefined)?.code, 'FST_CLOUD_SECRETS_NO_CREDENTIALS', brief(error))
  t.match(errorText(error), /aws:imds: skipped — AWS_EC2_METADATA_DISABLED is set/)
  t.equal(decoy.count('credentials') - decoyCalls, 0)
})

test('teardown', async (t) => {
  await decoy.close()
  await fakes.close()
  t.same(loopbackViolations(), [], 'no connection left loopback')
})
