import { test } from 'tap'
import { startGcpFakes, writeServiceAccountKey, type GcpFakes } from '../fakes/gcp/index.js'
import { assertNoLeak, randomSecret } from '../helpers/capture.js'
import { emptyDir } from '../gcp/helpers.js'
import { parseJson, type CliRun, recordingCli, startupError } from './run.js'

// doctor and policy (the CLI's main(), in this process: test/cli/run.ts runCliInProcess) against the GCP fakes (production hostnames through the
// loopback guard, test CA), with the env the GCP provider tests use.

const SA = 'app-runtime@demo-project.iam.gserviceaccount.com'
const RUN_SA = 'run-sa@demo-project.iam.gserviceaccount.com'
let fakes: GcpFakes
let keyEnv: Record<string, string>
let runEnv: Record<string, string>
const outputs: CliRun[] = []
const values = { jwt: randomSecret('jwt'), password: randomSecret('pw') }
const dbJson = JSON.stringify({ user: 'app', password: values.password })
const privateKeys: string[] = []

const cli = recordingCli(outputs)

test('setup', async (t) => {
  fakes = await startGcpFakes()
  fakes.world.addSecret('projects/demo-project/secrets/jwt-key', values.jwt)
  fakes.world.addSecret('projects/demo-project/secrets/db', dbJson)
  fakes.world.addSecret('projects/demo-project/secrets/locked', randomSecret('locked'))
  // does-not-exist is readable but absent: NOT_FOUND (without the grant Secret Manager says 403 first)
  fakes.world.allowAccess(SA, 'projects/demo-project/secrets/jwt-key', 'projects/demo-project/secrets/db', 'projects/demo-project/secrets/does-not-exist')
  fakes.world.metadataIdentity = { email: RUN_SA, projectId: 'demo-project' }
  fakes.world.allowAccess(RUN_SA, '*')
  const key = writeServiceAccountKey(fakes.world, SA)
  privateKeys.push(key.privateKey)
  const common = { ...fakes.env, CLOUDSDK_CONFIG: emptyDir(), CLOUD_SECRETS_TIMEOUT_MS: '8000' }
  keyEnv = { ...common, CLOUD_SECRETS_PROVIDER: 'gcp', GOOGLE_APPLICATION_CREDENTIALS: key.file, GOOGLE_CLOUD_PROJECT: 'demo-project' }
  runEnv = { ...common, K_SERVICE: 'api', K_REVISION: 'api-00007', GCE_METADATA_HOST: fakes.metadata.host }
  t.pass('fakes started')
  // in process, the SDK's first import happens here, outside every deadline that follows (a child paid it before its clock started)
  const warm = await cli(['doctor', '--json'], { ...keyEnv, CLOUD_SECRETS: 'jwtKey=jwt-key', CLOUD_SECRETS_TIMEOUT_MS: '60000' })
  t.equal(warm.code, 0, `warm-up run: ${warm.stdout.slice(0, 300)}`)
})

test('healthy on Cloud Run (metadata server): platform, identity, attempts, per-secret facts → exit 0', async (t) => {
  const run = await cli(['doctor'], { ...runEnv, CLOUD_SECRETS: 'jwtKey=jwt-key, dbPassword=db#password' })
  t.equal(run.code, 0, 'exit 0')
  t.match(run.stdout, /platform\s+cloud-run/)
  t.match(run.stdout, /provider\s+gcp\s+chosen by auto \(K_SERVICE is set\)/)
  t.match(run.stdout, /Identity \(gcp\)\s+ok\n {2}credential sources tried, in order:\n/)
  t.match(run.stdout, /skipped\s+GOOGLE_APPLICATION_CREDENTIALS\s+not set\n.*\n\s+ok\s+metadata server\s+K_SERVICE is set/)
  t.match(run.stdout, /source\s+gcp:metadata/)
  t.match(run.stdout, new RegExp(`principal\\s+${RUN_SA}`))
  t.match(run.stdout, /project\s+demo-project/)
  t.match(run.stdout, /expires\s+\d{4}-\d\d-\d\dT\S+ \(in \d+ (min|h)\)/)
  t.match(run.stdout, new RegExp(`ok\\s+jwtKey\\s+store \\S+, version 1, ${values.jwt.length} bytes, \\d+ ms`))
  t.match(run.stdout, new RegExp(`ok\\s+dbPassword\\s+store \\S+, version 1, ${values.password.length} bytes`))

  const json = await cli(['doctor', '--json'], { ...keyEnv, CLOUD_SECRETS: 'jwtKey=jwt-key' })
  t.equal(json.code, 0)
  t.match(parseJson(json), {
    ok: true,
    provider: 'gcp',
    providers: [{ name: 'gcp', status: 'ok', attempts: Array, identity: { provider: 'gcp', source: 'gcp:service-account-key', principal: SA, project: 'demo-project' } }],
    secrets: [{ alias: 'jwtKey', status: 'ok', bytes: values.jwt.length, version: '1' }]
  })
})

test('denied: ACCESS_DENIED with the gcloud binding, the same fix as the startup error; missing: NOT_FOUND', async (t) => {
  const env = { ...keyEnv, CLOUD_SECRETS: 'jwtKey=jwt-key, locked=locked, gone=does-not-exist' }
  const run = await cli(['doctor', '--json'], env)
  t.equal(run.code, 1)
  const doc = parseJson(run)
  const byAlias = Object.fromEntries(doc.secrets.map((s: { alias: string }) => [s.alias, s]))
  t.equal(byAlias.jwtKey.status, 'ok', 'every secret is reported, not only the failures')
  t.match(byAlias.locked, { status: 'failed', error: { code: 'FST_CLOUD_SECRETS_ACCESS_DENIED', principal: SA, permission: 'roles/secretmanager.secretAccessor' } })
  t.match(byAlias.gone, { status: 'failed', error: { code: 'FST_CLOUD_SECRETS_NOT_FOUND' } })
  t.match(byAlias.locked.error.fix, `gcloud secrets add-iam-policy-binding locked --project demo-project --member serviceAccount:${SA} --role roles/secretmanager.secretAccessor`)

  const err = await startupError(env)
  const startup = new Map(err?.errors?.map((e) => [e.alias, e]))
  for (const alias of ['locked', 'gone']) {
    t.equal(byAlias[alias].error.code, startup.get(alias)?.code, `${alias}: same code as the startup error`)
    t.equal(byAlias[alias].error.fix, startup.get(alias)?.fix, `${alias}: same fix as the startup error`)
  }

  const text = await cli(['doctor'], env)
  t.equal(text.code, 1)
  t.match(text.stdout, /FAILED\s+locked\s+gcp:locked\n\s+FST_CLOUD_SECRETS_ACCESS_DENIED — The principal is not allowed to read a secret/)
  t.ok(text.stdout.includes(`gcloud secrets add-iam-policy-binding locked --project demo-project --member serviceAccount:${SA}`), 'the text output prints the gcloud command')
  t.match(text.stdout, /FAILED\s+gone\s+gcp:does-not-exist\n\s+FST_CLOUD_SECRETS_NOT_FOUND/)
  t.match(text.stdout, /gcloud secrets create does-not-exist --project demo-project/)
})

test('no credentials: the three ADC sources with their reasons, the gcloud login fix → exit 1', async (t) => {
  const env = { ...fakes.env, CLOUDSDK_CONFIG: emptyDir(), CLOUD_SECRETS_PROVIDER: 'gcp', CLOUD_SECRETS: 'jwtKey=jwt-key' }
  const run = await cli(['doctor'], env)
  t.equal(run.code, 1)
  t.match(run.stdout, /Identity \(gcp\)\s+FAILED/)
  t.match(run.stdout, /skipped\s+\S+\s+.*METADATA_SERVER_DETECTION=none/)
  t.match(run.stdout, /FST_CLOUD_SECRETS_NO_CREDENTIALS/)
  t.match(run.stdout, /fix: .*gcloud auth application-default login/)
  t.match(run.stdout, /skipped\s+jwtKey\s+not asked: provider gcp has no identity/)
  const doc = parseJson(await cli(['doctor', '--json'], env))
  t.equal(doc.providers[0].attempts.length, 3)
  t.match(doc.providers[0].error, { code: 'FST_CLOUD_SECRETS_NO_CREDENTIALS' })
})

test('hung: Secret Manager or the metadata server never answers → TIMEOUT naming the step, exit 1 within the deadline', async (t) => {
  // long enough that importing the SDK (inside the deadline) fits even on a loaded machine
  const deadline = 4000
  fakes.world.faults.secretManager.hang = true
  const sm = await cli(['doctor', '--json'], { ...keyEnv, CLOUD_SECRETS_TIMEOUT_MS: String(deadline), CLOUD_SECRETS: 'jwtKey=jwt-key' }, 20_000)
  fakes.world.faults.secretManager.hang = false
  t.equal(sm.code, 1)
  t.ok(sm.ms < deadline + 3000, `exited after ${sm.ms} ms`)
  const doc = parseJson(sm)
  t.match(doc.timeout, { code: 'FST_CLOUD_SECRETS_TIMEOUT', fix: /CLOUD_SECRETS_TIMEOUT_MS/ })
  t.ok(doc.timeout.pending.includes('secret "jwtKey" (AccessSecretVersion projects/demo-project/secrets/jwt-key/versions/latest)'), 'the pending call is named')
  t.match(doc.secrets, [{ alias: 'jwtKey', status: 'failed', error: { code: 'FST_CLOUD_SECRETS_TIMEOUT' } }])

  fakes.world.faults.metadata.hang = true
  const md = await cli(['doctor'], { ...runEnv, CLOUD_SECRETS_TIMEOUT_MS: String(deadline), CLOUD_SECRETS: 'jwtKey=jwt-key' }, 20_000)
  fakes.world.faults.metadata.hang = false
  t.equal(md.code, 1)
  t.ok(md.ms < deadline + 3000, `exited after ${md.ms} ms`)
  t.match(md.stdout, /Identity \(gcp\)\s+FAILED/)
  t.match(md.stdout, /still pending: .*identity: metadata server/)
})

test('policy: gcloud commands per secret and per project, for the resolved identity or --principal', async (t) => {
  const env = { ...keyEnv, CLOUD_SECRETS: 'jwtKey=jwt-key, dbPassword=db#password, eu=projects/demo-project/locations/europe-west1/secrets/eu-key' }
  const run = await cli(['policy'], env)
  t.equal(run.code, 0, 'exit 0')
  t.match(run.stdout, `gcp for ${SA} (from gcp:service-account-key)\n  secrets: jwtKey, dbPassword, eu`)
  t.match(run.stdout, `gcloud secrets add-iam-policy-binding jwt-key --project demo-project --member serviceAccount:${SA} --role roles/secretmanager.secretAccessor`)
  t.match(run.stdout, `gcloud secrets add-iam-policy-binding db --project demo-project --member serviceAccount:${SA}`)
  t.match(run.stdout, '--project demo-project --location europe-west1')
  t.match(run.stdout, `gcloud projects add-iam-policy-binding demo-project --member serviceAccount:${SA} --role roles/secretmanager.secretAccessor`)

  const other = 'deployer@demo-project.iam.gserviceaccount.com'
  const before = fakes.world.tokens.size
  const json = await cli(['policy', '--json', '--principal', other], { ...env, GOOGLE_APPLICATION_CREDENTIALS: '/nonexistent/key.json' })
  t.equal(json.code, 0, 'no credential is needed with --principal')
  t.equal(fakes.world.tokens.size, before, 'no token was issued')
  t.match(parseJson(json).providers, [{ name: 'gcp', principal: other, principalFrom: '--principal', documents: [{ format: 'sh', text: new RegExp(`--member serviceAccount:${other}`) }, { format: 'sh' }] }])
})

test('leak scan over every CLI output of this file', async (t) => {
  t.ok(outputs.length >= 10)
  const tokens = [...fakes.world.tokens.keys()]
  t.ok(tokens.length > 0, 'tokens were issued and are part of the scan')
  assertNoLeak(t, outputs.map((r) => r.stdout + r.stderr).join('\n'), [...Object.values(values), dbJson, ...tokens, ...privateKeys.map((k) => k.split('\n')[1])], 'doctor and policy output')
  t.notOk(outputs.some((r) => r.stderr.includes('LOOPBACK GUARD')), 'no child connection left loopback')
  t.same((globalThis as { __loopbackViolations?: string[] }).__loopbackViolations, [])
})

test('teardown', async () => { await fakes.close() })
