import { test } from 'tap'
import { FakeContainerCredentials, startAwsFakes, type AwsFakes } from '../fakes/aws/index.js'
import { assertNoLeak, randomSecret } from '../helpers/capture.js'
import { parseJson, type CliRun, recordingCli, startupError } from './run.js'

// doctor and policy (the CLI's main(), in this process: test/cli/run.ts runCliInProcess) against the AWS fakes (Secrets Manager and STS under their
// production hostnames through the loopback guard, test CA), with the env the AWS provider tests use.

const TASK_ROLE = 'arn:aws:sts::123456789012:assumed-role/orders-task/7f3c'
const READ = ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue']
let fakes: AwsFakes
let container: FakeContainerCredentials
let taskEnv: Record<string, string | undefined>
const outputs: CliRun[] = []
const values = { jwt: randomSecret('jwt'), password: randomSecret('pw') }
const dbJson = JSON.stringify({ user: 'orders', password: values.password })

const cli = recordingCli(outputs)

/** env credentials for a principal allowed `allow` */
function keysFor (arn: string, allow: string[]): Record<string, string | undefined> {
  const keys = fakes.world.issue(arn, allow, { session: false })
  return { ...fakes.env, CLOUD_SECRETS_PROVIDER: 'aws', AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey, CLOUD_SECRETS_TIMEOUT_MS: '8000' }
}

test('setup', async (t) => {
  fakes = await startAwsFakes()
  fakes.world.putSecret('orders/jwt-key', values.jwt)
  fakes.world.putSecret('orders/db', dbJson)
  fakes.world.putSecret('orders/stripe-key', randomSecret('stripe'))
  container = await new FakeContainerCredentials(fakes.world, { principal: TASK_ROLE, allow: READ }).start()
  taskEnv = { ...fakes.env, AWS_CONTAINER_CREDENTIALS_FULL_URI: container.fullUri, ECS_CONTAINER_METADATA_URI_V4: 'http://127.0.0.1:9/v4/task', CLOUD_SECRETS_TIMEOUT_MS: '8000' }
  t.pass('fakes started')
  // in process, the SDK's first import happens here, outside every deadline that follows (a child paid it before its clock started)
  const warm = await cli(['doctor', '--json'], { ...taskEnv, CLOUD_SECRETS: 'jwtKey=orders/jwt-key', CLOUD_SECRETS_TIMEOUT_MS: '60000' })
  t.equal(warm.code, 0, `warm-up run: ${warm.stdout.slice(0, 300)}`)
})

test('healthy on ECS (container credentials): platform, attempts, principal, expiry, per-secret facts → exit 0', async (t) => {
  const run = await cli(['doctor'], { ...taskEnv, CLOUD_SECRETS: 'jwtKey=orders/jwt-key, dbPassword=orders/db#password, sentry=orders/sentry?optional' })
  t.equal(run.code, 0, 'exit 0')
  t.match(run.stdout, /provider\s+aws\s+chosen by auto \(ECS_CONTAINER_METADATA_URI_V4 is set\)/)
  t.match(run.stdout, /Identity \(aws\)\s+ok\n {2}credential sources tried, in order:\n/)
  t.match(run.stdout, /skipped\s+aws:env\s+\S/)
  t.match(run.stdout, /ok\s+aws:container\s+\S/)
  t.match(run.stdout, /source\s+aws:container/)
  t.match(run.stdout, new RegExp(`principal\\s+${TASK_ROLE}`))
  t.match(run.stdout, /account\s+123456789012/)
  t.match(run.stdout, /expires\s+\d{4}-\d\d-\d\dT\S+ \(in \d+ min\)/)
  t.match(run.stdout, new RegExp(`ok\\s+jwtKey\\s+store \\S+, version [0-9a-f-]{36}, ${values.jwt.length} bytes, \\d+ ms`))
  t.match(run.stdout, new RegExp(`ok\\s+dbPassword\\s+store \\S+, version [0-9a-f-]{36}, ${values.password.length} bytes`))
  t.match(run.stdout, /absent\s+sentry\s+optional and absent/)
  t.match(run.stdout, /Result: the app would start\. Secrets: 2 loaded, 1 optional absent, 0 failed/)

  const json = await cli(['doctor', '--json'], { ...taskEnv, CLOUD_SECRETS: 'jwtKey=orders/jwt-key' })
  t.equal(json.code, 0)
  t.match(parseJson(json), {
    ok: true,
    provider: 'aws',
    markers: [{ provider: 'aws', marker: 'ECS_CONTAINER_METADATA_URI_V4' }],
    providers: [{ name: 'aws', status: 'ok', attempts: Array, identity: { provider: 'aws', source: 'aws:container', principal: TASK_ROLE, account: '123456789012', expiresAt: String } }],
    secrets: [{ alias: 'jwtKey', status: 'ok', bytes: values.jwt.length, store: String, version: String }]
  })
})

test('denied: ACCESS_DENIED with the IAM policy for the configured ARNs, the same fix as the startup error; missing: NOT_FOUND', async (t) => {
  const env = { ...keysFor(TASK_ROLE, ['secretsmanager:GetSecretValue:orders/jwt-key']), CLOUD_SECRETS: 'jwtKey=orders/jwt-key?stage=AWSCURRENT, stripeKey=orders/stripe-key?stage=AWSCURRENT' }
  const run = await cli(['doctor', '--json'], env)
  t.equal(run.code, 1)
  const doc = parseJson(run)
  const [jwt, stripe] = doc.secrets
  t.equal(jwt.status, 'ok', 'every secret is reported, not only the failures')
  t.match(stripe, { alias: 'stripeKey', status: 'failed', error: { code: 'FST_CLOUD_SECRETS_ACCESS_DENIED', principal: TASK_ROLE, permission: 'secretsmanager:GetSecretValue', secret: 'orders/stripe-key' } })
  const policy = JSON.parse(/\{[\s\S]*\n\}/.exec(stripe.error.fix)?.[0] ?? '{}')
  t.same(policy, {
    Version: '2012-10-17',
    Statement: [{ Sid: 'ReadConfiguredSecrets', Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: ['arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/jwt-key-??????', 'arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/stripe-key-??????'] }]
  }, 'the fix holds the least-privilege policy with the concrete ARNs')
  t.match(stripe.error.fix, 'aws iam put-role-policy --role-name orders-task --policy-name fastify-cloud-secrets --policy-document file://policy.json')

  const err = await startupError(env)
  const startup = err?.errors?.find((e) => e.alias === 'stripeKey')
  t.equal(startup?.code, 'FST_CLOUD_SECRETS_ACCESS_DENIED')
  t.equal(stripe.error.fix, startup?.fix, 'doctor prints the fix the startup error carries')
  t.equal(stripe.error.summary, startup?.summary)

  const text = await cli(['doctor'], env)
  t.equal(text.code, 1)
  t.match(text.stdout, /FAILED\s+stripeKey\s+aws:orders\/stripe-key\n\s+FST_CLOUD_SECRETS_ACCESS_DENIED — The principal is not allowed to read a secret/)
  t.match(text.stdout, /"Resource": \[\n\s+"arn:aws:secretsmanager:us-east-1:123456789012:secret:orders\/jwt-key-\?\?\?\?\?\?"/)

  const missing = await cli(['doctor', '--json'], { ...keysFor(TASK_ROLE, READ), CLOUD_SECRETS: 'jwtKey=orders/jwt-key, gone=orders/does-not-exist' })
  t.equal(missing.code, 1)
  t.match(parseJson(missing).secrets, [{ alias: 'jwtKey', status: 'ok' }, { alias: 'gone', status: 'failed', error: { code: 'FST_CLOUD_SECRETS_NOT_FOUND', fix: String } }])
})

test('no credentials: the seven chain sources with their reasons, the login fixes → exit 1', async (t) => {
  const env = { ...fakes.env, CLOUD_SECRETS_PROVIDER: 'aws', CLOUD_SECRETS: 'jwtKey=orders/jwt-key' }
  const run = await cli(['doctor'], env)
  t.equal(run.code, 1)
  t.match(run.stdout, /Identity \(aws\)\s+FAILED/)
  for (const source of ['aws:env', 'aws:sso', 'aws:profile', 'aws:process', 'aws:web-identity', 'aws:container', 'aws:imds']) {
    t.match(run.stdout, new RegExp(`skipped\\s+${source}\\s+\\S`), `${source} listed with its reason`)
  }
  t.match(run.stdout, /FST_CLOUD_SECRETS_NO_CREDENTIALS/)
  t.match(run.stdout, /fix: .*aws sso login --profile default/s)
  t.match(run.stdout, /skipped\s+jwtKey\s+not asked: provider aws has no identity/)
  const doc = parseJson(await cli(['doctor', '--json'], env))
  t.equal(doc.providers[0].attempts.length, 7)
  t.match(doc.providers[0].error, { code: 'FST_CLOUD_SECRETS_NO_CREDENTIALS', fix: /aws configure/ })
})

test('hung: Secrets Manager or STS never answers → TIMEOUT naming the call, exit 1 within the deadline', async (t) => {
  // long enough that importing the SDK (inside the deadline) fits even on a loaded machine
  const deadline = 4000
  const env = { ...keysFor('arn:aws:iam::123456789012:user/ci', READ), CLOUD_SECRETS_TIMEOUT_MS: String(deadline), CLOUD_SECRETS: 'jwtKey=orders/jwt-key?stage=AWSCURRENT' }
  fakes.sm.faults = { hang: true }
  const sm = await cli(['doctor', '--json'], env, 20_000)
  fakes.sm.faults = {}
  t.equal(sm.code, 1)
  t.ok(sm.ms < deadline + 3000, `exited after ${sm.ms} ms`)
  const doc = parseJson(sm)
  t.match(doc.timeout, { code: 'FST_CLOUD_SECRETS_TIMEOUT', fix: /CLOUD_SECRETS_TIMEOUT_MS/ })
  t.ok(doc.timeout.pending.includes('secret "jwtKey" (GetSecretValue orders/jwt-key stage AWSCURRENT)'), `pending: ${String(doc.timeout.pending)}`)
  t.match(doc.secrets, [{ alias: 'jwtKey', status: 'failed', error: { code: 'FST_CLOUD_SECRETS_TIMEOUT' } }])

  fakes.sts.faults = { hang: true }
  const sts = await cli(['doctor'], env, 20_000)
  fakes.sts.faults = {}
  t.equal(sts.code, 1)
  t.ok(sts.ms < deadline + 3000, `exited after ${sts.ms} ms`)
  t.match(sts.stdout, /Identity \(aws\)\s+FAILED/)
  t.match(sts.stdout, /still pending: .*identity: STS GetCallerIdentity/)
})

test('policy: the IAM policy document for the resolved principal or --principal; batch action only when useful', async (t) => {
  const env = { ...taskEnv, CLOUD_SECRETS: 'jwtKey=orders/jwt-key, dbPassword=orders/db#password' }
  const run = await cli(['policy', '--json'], env)
  t.equal(run.code, 0, 'exit 0')
  const [aws] = parseJson(run).providers
  t.match(aws, { name: 'aws', principal: TASK_ROLE, principalFrom: 'aws:container', aliases: ['jwtKey', 'dbPassword'] })
  const doc = aws.documents.find((d: { format: string }) => d.format === 'json')
  const policy = JSON.parse(doc.text)
  t.same(policy.Statement.map((s: { Action: string }) => s.Action), ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue'], 'two unpinned secrets share a batch call: batch permission included')
  t.same(policy.Statement[0].Resource, ['arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/db-??????', 'arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/jwt-key-??????'])
  t.notOk(JSON.stringify(policy).includes('secretsmanager:*'), 'no wildcard action')
  t.ok(aws.documents.some((d: { format: string, text: string }) => d.format === 'sh' && d.text.includes('aws iam put-role-policy --role-name orders-task')))

  const role = 'arn:aws:iam::123456789012:role/deploy-target'
  const before = fakes.sts.count('GetCallerIdentity')
  const given = await cli(['policy', '--principal', role], { ...fakes.env, CLOUD_SECRETS_PROVIDER: 'aws', CLOUD_SECRETS: 'jwtKey=orders/jwt-key?stage=AWSCURRENT' })
  t.equal(given.code, 0, 'no credentials needed with --principal')
  t.equal(fakes.sts.count('GetCallerIdentity'), before, 'STS was not called')
  t.match(given.stdout, `aws for ${role} (from --principal)\n  secrets: jwtKey`)
  t.match(given.stdout, '"Action": "secretsmanager:GetSecretValue"')
  t.notMatch(given.stdout, 'BatchGetSecretValue', 'a pinned single secret needs no batch permission')
  t.match(given.stdout, 'aws iam put-role-policy --role-name deploy-target')
})

test('doctor with refresh on (30s, --fleet 1000): the Refresh section and its cost per store, text and --json (leak-scanned below)', async (t) => {
  const env = { ...taskEnv, CLOUD_SECRETS: 'jwtKey=orders/jwt-key, dbPassword=orders/db#password, dbUser=orders/db#user, pinned=orders/stripe-key?refresh=off', CLOUD_SECRETS_REFRESH_MS: '30s' }
  const run = await cli(['doctor', '--fleet', '1000'], env)
  t.equal(run.code, 0, run.stdout + run.stderr)
  t.match(run.stdout, /Refresh\n {2}every 30s ± 10 % \(CLOUD_SECRETS_REFRESH_MS\)/)
  t.match(run.stdout, 'polled: jwtKey, dbPassword, dbUser; never re-read: pinned')
  t.match(run.stdout, /1 BatchGetSecretValue call \(2 secrets, 20 per call\) every 30s → 1,000 instances: 33\.3 requests\/s, 86\.4 M requests\/month, 33 % of 100 BatchGetSecretValue requests per s/, 'the fleet cost per store')
  const json = await cli(['doctor', '--json', '--fleet', '1000'], env)
  t.equal(json.code, 0)
  const doc = parseJson(json) as unknown as Record<string, unknown>
  t.ok(doc.refresh !== undefined, 'the --json document has the refresh section')
  assertNoLeak(t, run.stdout + run.stderr + json.stdout + json.stderr, [...Object.values(values), dbJson, ...fakes.world.sensitive()], 'doctor output with refresh on')
})

test('leak scan over every CLI output of this file', async (t) => {
  t.ok(outputs.length >= 10)
  assertNoLeak(t, outputs.map((r) => r.stdout + r.stderr).join('\n'), [...Object.values(values), dbJson, ...fakes.world.sensitive()], 'doctor and policy output')
  t.notOk(outputs.some((r) => r.stderr.includes('LOOPBACK GUARD')), 'no child connection left loopback')
  t.same((globalThis as { __loopbackViolations?: string[] }).__loopbackViolations, [])
})

test('teardown', async () => { await Promise.all([fakes.close(), container.close()]) })
