import { createRequire } from 'node:module'
import { test } from 'tap'
import { inspect } from 'node:util'
import { join } from 'node:path'
import { writeFileSync } from 'node:fs'
import { randomSecret } from '../helpers/capture.js'
import { writeAuthorizedUser, writeExternalAccount, writeServiceAccountKey } from '../fakes/gcp/index.js'
import { detectPlatform } from '../../src/providers/gcp/platform.js'
import { emptyDir, fakeGcloud, SA_EMAIL, start, startFakes, withEnv } from './helpers.js'

const DEV = 'dev@example.com'

test('service-account key in GOOGLE_APPLICATION_CREDENTIALS: identity, self-signed JWT to Secret Manager, clients', async (t) => {
  const fakes = await startFakes(t)
  const key = writeServiceAccountKey(fakes.world, SA_EMAIL)
  const db = randomSecret()
  fakes.world.addSecret('projects/demo-project/secrets/db-password', ['old', db])
  fakes.world.allowAccess(SA_EMAIL, 'projects/demo-project/secrets/db-password')
  withEnv(t, { GOOGLE_APPLICATION_CREDENTIALS: key.file, CLOUD_SECRETS_PROVIDER: 'gcp', CLOUD_SECRETS: 'db=db-password, first=db-password?version=1' })
  const { app, error, logs } = await start(t)
  t.error(error)
  t.equal(app.secrets.db, db)
  t.equal(app.secrets.first, 'old')
  const identity = app.cloud.identity
  t.match(identity, { provider: 'gcp', source: 'gcp:service-account-key', principal: SA_EMAIL, project: 'demo-project', platform: 'local', details: { credentialFile: key.file, projectFrom: `project_id of ${key.file}` } })
  t.ok(identity.expiresAt !== undefined && Date.parse(identity.expiresAt) > Date.now(), 'expiry of the self-signed JWT')
  t.same(fakes.world.counters.authKinds, ['self-signed-jwt', 'self-signed-jwt'], 'Secret Manager saw the key\'s self-signed JWT')
  t.equal(fakes.world.counters.oauthToken, 0, 'the key signs its own JWTs: no token endpoint at boot')
  t.notOk(logs.records().some((r) => r.level === 40), 'no warning: the project came from the key file')

  const gcp = app.cloud.gcp
  if (gcp === undefined) throw new Error('app.cloud.gcp is missing')
  t.equal(gcp.projectId, 'demo-project')
  const token = await gcp.getAccessToken()
  t.ok(fakes.world.tokens.has(token), 'getAccessToken() returns a token of the fake oauth2 endpoint (jwt-bearer grant)')
  t.equal(fakes.world.tokens.get(token)?.principal, SA_EMAIL)
  t.notOk(inspect(gcp, { depth: 10 }).includes(token), 'inspect(app.cloud.gcp) shows no token')
  t.notOk(JSON.stringify(gcp).includes(token), 'JSON of app.cloud.gcp shows no token')

  let closed = 0
  class FakeStorage {
    constructor (readonly options: Record<string, unknown>) {}
    async close (): Promise<void> { closed++ }
  }
  const storage = gcp.client(FakeStorage, { apiEndpoint: 'storage.example' })
  t.equal(gcp.client(FakeStorage, { apiEndpoint: 'storage.example' }), storage, 'memoised per constructor and options')
  const plain = gcp.client(FakeStorage)
  t.not(plain, storage, 'other options: another client, never the first one silently')
  t.equal(plain.options.apiEndpoint, undefined)
  t.equal(gcp.client(FakeStorage, {}), plain, 'no options and {} are one client')
  t.equal(storage.options.auth, gcp.auth, 'built with the shared GoogleAuth')
  t.equal(storage.options.projectId, 'demo-project')
  t.equal(storage.options.apiEndpoint, 'storage.example')
  const loaded = (): string[] => Object.keys(createRequire(import.meta.url).cache).map((f) => f.replace(/.*\/@google-cloud\/secret-manager\/build\//, '')).filter((f) => !f.startsWith('/'))
  t.equal(gcp.secretManager.auth, gcp.auth, 'the Secret Manager client shares the GoogleAuth')
  // the v1 client module alone: not the package entry, its v1beta2 client nor its 770 KB protos.js
  t.ok(loaded().includes('src/v1/secret_manager_service_client.js'), 'the v1 client was loaded (a key file builds it at boot: it configures the self-signed JWTs)')
  t.notOk(loaded().some((f) => f === 'protos/protos.js' || f.startsWith('src/v1beta2/') || f === 'src/index.js'), 'no protos.js, v1beta2 module or package entry')

  const res = await app.inject('/whoami')
  t.same(res.json(), { principal: SA_EMAIL, project: 'demo-project' }, 'request.cloud.gcp')
  await app.close()
  t.equal(closed, 2, 'clients built through client() are closed with the app')
})

test('authorized_user written by `gcloud auth application-default login`: refresh, user email, project from gcloud (warned)', async (t) => {
  const fakes = await startFakes(t)
  const config = emptyDir()
  const login = writeAuthorizedUser(fakes.world, DEV, config)
  fakeGcloud(t, 'dev-project')
  fakes.world.addSecret('projects/dev-project/secrets/api-key', 'k-123')
  fakes.world.allowAccess(DEV, '*')
  withEnv(t, { CLOUDSDK_CONFIG: config, CLOUD_SECRETS_PROVIDER: 'gcp', CLOUD_SECRETS: 'apiKey=api-key' })
  const { app, error, logs } = await start(t)
  t.error(error)
  t.equal(app.secrets.apiKey, 'k-123')
  t.match(app.cloud.identity, { source: 'gcp:authorized-user', principal: DEV, project: 'dev-project', platform: 'local', details: { credentialFile: login.file, projectFrom: 'gcloud config' } })
  t.equal(fakes.world.counters.oauthToken, 1, 'one refresh')
  t.same(fakes.world.counters.authKinds, ['bearer'])
  const warn = logs.records().find((r) => r.level === 40)
  t.match(warn?.msg, /GOOGLE_CLOUD_PROJECT=dev-project/, 'warns that the project came from the slow gcloud lookup')
})

test('authorized_user with a revoked refresh token → TOKEN with the gcloud login fix', async (t) => {
  const fakes = await startFakes(t)
  const config = emptyDir()
  const login = writeAuthorizedUser(fakes.world, DEV, config)
  fakes.world.refreshTokens.delete(login.refreshToken)
  withEnv(t, { CLOUDSDK_CONFIG: config, CLOUD_SECRETS_PROVIDER: 'gcp', GOOGLE_CLOUD_PROJECT: 'dev-project' })
  const { error } = await start(t)
  t.equal(error?.code, 'FST_CLOUD_SECRETS_TOKEN')
  t.match(error?.message, /oauth2\.googleapis\.com\/token/)
  t.match(error?.message, /invalid_grant/)
  t.match(error?.message, /gcloud auth application-default login/)
})

test('external_account (workload identity federation) without impersonation: federated principal', async (t) => {
  const fakes = await startFakes(t)
  const wif = writeExternalAccount(fakes.world, { sub: 'repo:acme/api:ref:refs/heads/main' })
  fakes.world.addSecret('projects/demo-project/secrets/deploy-key', 'dk')
  fakes.world.allowAccess(wif.principal, 'projects/demo-project/secrets/deploy-key')
  withEnv(t, { GOOGLE_APPLICATION_CREDENTIALS: wif.file, GOOGLE_CLOUD_PROJECT: 'demo-project', CLOUD_SECRETS_PROVIDER: 'gcp', CLOUD_SECRETS: 'deployKey=deploy-key' })
  const { app, error, logs } = await start(t)
  t.error(error)
  t.equal(app.secrets.deployKey, 'dk')
  t.match(app.cloud.identity, { source: 'gcp:external-account', principal: wif.principal, project: 'demo-project', details: { projectFrom: 'configuration', federatedPrincipal: wif.principal } })
  t.equal(fakes.world.counters.sts, 1, 'one STS exchange (the boot token is reused by Secret Manager)')
  t.equal(fakes.world.counters.generateAccessToken, 0)
  t.notOk(logs.text().includes(wif.subjectToken), 'the subject token is never logged')
})

test('external_account with service-account impersonation: the service account is the principal', async (t) => {
  const fakes = await startFakes(t)
  const wif = writeExternalAccount(fakes.world, { sub: 'system:serviceaccount:prod:api', impersonate: SA_EMAIL })
  fakes.world.impersonation.set(wif.principal, new Set([SA_EMAIL]))
  fakes.world.addSecret('projects/demo-project/secrets/deploy-key', 'dk2')
  fakes.world.allowAccess(SA_EMAIL, '*')
  withEnv(t, { GOOGLE_APPLICATION_CREDENTIALS: wif.file, GOOGLE_CLOUD_PROJECT: 'demo-project', CLOUD_SECRETS_PROVIDER: 'gcp', CLOUD_SECRETS: 'deployKey=deploy-key' })
  const { app, error } = await start(t)
  t.error(error)
  t.equal(app.secrets.deployKey, 'dk2')
  t.match(app.cloud.identity, { source: 'gcp:external-account', principal: SA_EMAIL, details: { federatedPrincipal: wif.principal, impersonated: true } })
  t.equal(fakes.world.counters.sts, 1)
  t.equal(fakes.world.counters.generateAccessToken, 1)
})

test('external_account whose federated principal may not impersonate → TOKEN naming roles/iam.workloadIdentityUser', async (t) => {
  const fakes = await startFakes(t)
  const wif = writeExternalAccount(fakes.world, { sub: 'intruder', impersonate: SA_EMAIL })
  withEnv(t, { GOOGLE_APPLICATION_CREDENTIALS: wif.file, GOOGLE_CLOUD_PROJECT: 'demo-project', CLOUD_SECRETS_PROVIDER: 'gcp' })
  const { error } = await start(t)
  t.equal(error?.code, 'FST_CLOUD_SECRETS_TOKEN')
  t.match(error?.message, /iamcredentials\.googleapis\.com/)
  t.match(error?.message, /roles\/iam\.workloadIdentityUser/)
})

test('metadata server on Cloud Run (K_SERVICE): token, email, project id with Metadata-Flavor, warned project lookup', async (t) => {
  const fakes = await startFakes(t)
  fakes.world.metadataIdentity = { email: 'run-sa@demo-project.iam.gserviceaccount.com', projectId: 'demo-project' }
  fakes.world.addSecret('projects/demo-project/secrets/jwt-key', 'jk')
  fakes.world.allowAccess('run-sa@demo-project.iam.gserviceaccount.com', '*')
  withEnv(t, { K_SERVICE: 'api', K_REVISION: 'api-00007', GCE_METADATA_HOST: fakes.metadata.host, CLOUD_SECRETS: 'jwtKey=jwt-key' })
  const { app, error, logs } = await start(t)
  t.error(error)
  t.equal(app.secrets.jwtKey, 'jk')
  t.match(app.cloud.identity, { provider: 'gcp', platform: 'cloud-run', source: 'gcp:metadata', principal: 'run-sa@demo-project.iam.gserviceaccount.com', project: 'demo-project', details: { service: 'api', revision: 'api-00007', metadataServer: `http://${fakes.metadata.host}` } })
  t.ok(Date.parse(app.cloud.identity.expiresAt ?? '') > Date.now())
  t.equal(fakes.world.counters.metadata.get('instance/service-accounts/default/token'), 1, 'one token, reused for Secret Manager')
  t.equal(fakes.world.counters.metadata.get('instance/service-accounts/default/email'), 1)
  t.equal(fakes.world.counters.metadata.get('project/project-id'), 1)
  t.match(logs.records().find((r) => r.level === 40)?.msg, /metadata server/)
  t.same(fakes.world.counters.authKinds, ['bearer'])
})

test('metadata server, project configured: two metadata requests per boot (token + email, side by side), the Secret Manager channel connected before the token answer', async (t) => {
  const fakes = await startFakes(t)
  fakes.world.addSecret('projects/demo-project/secrets/jwt-key', 'jk')
  fakes.world.allowAccess(fakes.world.metadataIdentity.email, '*')
  // a slow metadata server: the channel's handshake has the whole token round trip to happen in
  fakes.world.faults.metadata.latencyMs = 400
  withEnv(t, { K_SERVICE: 'api', GCE_METADATA_HOST: fakes.metadata.host, GOOGLE_CLOUD_PROJECT: 'demo-project', CLOUD_SECRETS: 'jwtKey=jwt-key' })
  const { app, error } = await start(t)
  t.error(error)
  t.equal(app.secrets.jwtKey, 'jk')
  t.match(app.cloud.identity, { source: 'gcp:metadata', principal: fakes.world.metadataIdentity.email })
  t.same(Object.fromEntries(fakes.world.counters.metadata), { 'instance/service-accounts/default/token': 1, 'instance/service-accounts/default/email': 1 }, 'the token and the principal; no probe, no project lookup')
  t.equal(fakes.world.totalMetadataRequests(), 2, 'two metadata requests per boot')
  const events = fakes.world.counters.events
  const at = (event: string): number => events.indexOf(event) === -1 ? Infinity : events.indexOf(event)
  const tokenAnswer = at('metadata instance/service-accounts/default/token')
  const firstAnswer = events.findIndex((e) => e.startsWith('metadata ') && !e.startsWith('metadata asked '))
  t.ok(tokenAnswer !== Infinity && firstAnswer !== -1, `the token was answered (${events.join(' → ')})`)
  t.ok(at('metadata asked instance/service-accounts/default/email') < firstAnswer && at('metadata asked instance/service-accounts/default/token') < firstAnswer, 'the email and the token were asked side by side (one round trip)')
  t.ok(at('secret-manager tcp') < tokenAnswer, 'the Secret Manager channel connected before the token answer')
  t.ok(at('secret-manager tls') < tokenAnswer, 'and finished its TLS handshake before it')
  t.equal(events.filter((e) => e === 'secret-manager tcp').length, 1, 'one connection')
})

test('metadata server on GKE (KUBERNETES_SERVICE_HOST) and GCE (probe answered)', async (t) => {
  const fakes = await startFakes(t)
  withEnv(t, { GCE_METADATA_HOST: fakes.metadata.host, GOOGLE_CLOUD_PROJECT: 'demo-project', CLOUD_SECRETS_PROVIDER: 'gcp', METADATA_SERVER_DETECTION: 'assume-present', KUBERNETES_SERVICE_HOST: '10.0.0.1' })
  const gke = await start(t)
  t.error(gke.error)
  t.match(gke.app.cloud.identity, { platform: 'gke', source: 'gcp:metadata', principal: fakes.world.metadataIdentity.email })
  t.equal(fakes.world.counters.metadata.get('project/project-id'), undefined, 'GOOGLE_CLOUD_PROJECT saves the lookup')

  withEnv(t, { METADATA_SERVER_DETECTION: 'ping-only', KUBERNETES_SERVICE_HOST: undefined })
  const gce = await start(t)
  t.error(gce.error)
  t.match(gce.app.cloud.identity, { platform: 'gce', source: 'gcp:metadata' })
  t.equal(fakes.world.counters.metadata.get('instance'), 1, 'one probe')
})

test('metadata server with no service account for the workload (404 on the token) → TOKEN', async (t) => {
  const fakes = await startFakes(t)
  // persistent, as on a workload with no service account (the early requests meet it too)
  fakes.world.faults.metadata.failures = [404, 404, 404, 404]
  withEnv(t, { K_SERVICE: 'api', GCE_METADATA_HOST: fakes.metadata.host, GOOGLE_CLOUD_PROJECT: 'demo-project' })
  const { error } = await start(t)
  t.equal(error?.code, 'FST_CLOUD_SECRETS_TOKEN')
  t.match(error?.message, /no service account/)
})

test('platform detection from the runtimes\' env markers', async (t) => {
  t.match(detectPlatform({ FUNCTION_TARGET: 'handler', K_SERVICE: 'fn' }, true), { platform: 'functions', details: { function: 'handler' } })
  t.match(detectPlatform({ FUNCTION_NAME: 'legacy' }, true), { platform: 'functions' })
  t.match(detectPlatform({ CLOUD_RUN_JOB: 'nightly', CLOUD_RUN_EXECUTION: 'nightly-x' }, true), { platform: 'cloud-run', details: { job: 'nightly' } })
  t.match(detectPlatform({ GAE_SERVICE: 'default', GAE_VERSION: '42' }, true), { platform: 'app-engine', details: { service: 'default', version: '42' } })
  t.equal(detectPlatform({ KUBERNETES_SERVICE_HOST: '10.0.0.1' }, false).platform, 'kubernetes')
  t.equal(detectPlatform({}, false).platform, 'local')
})

test('no credentials at all → NO_CREDENTIALS listing every source and the gcloud login fix', async (t) => {
  await startFakes(t)
  withEnv(t, { CLOUD_SECRETS_PROVIDER: 'gcp', CLOUD_SECRETS: 'a=b' })
  const { error } = await start(t)
  t.equal(error?.code, 'FST_CLOUD_SECRETS_NO_CREDENTIALS')
  t.match(error?.message, /GOOGLE_APPLICATION_CREDENTIALS: skipped \(not set\)/)
  t.match(error?.message, /gcloud application-default credentials: skipped \(no file at .*application_default_credentials\.json\)/)
  t.match(error?.message, /metadata server: skipped \(METADATA_SERVER_DETECTION=none\)/)
  t.match(error?.message, /gcloud auth application-default login/)
  t.equal((error as { attempts?: unknown[] }).attempts?.length, 3)
})

test('no metadata server answering the probe → NO_CREDENTIALS naming it', async (t) => {
  await startFakes(t)
  withEnv(t, { CLOUD_SECRETS_PROVIDER: 'gcp', METADATA_SERVER_DETECTION: 'ping-only', GCE_METADATA_HOST: '127.0.0.1:9' })
  const { error } = await start(t)
  t.equal(error?.code, 'FST_CLOUD_SECRETS_NO_CREDENTIALS')
  t.match(error?.message, /metadata server: failed \(http:\/\/127\.0\.0\.1:9 did not answer as a metadata server/)
})

test('unusable credential files → NO_CREDENTIALS without quoting their content', async (t) => {
  await startFakes(t)
  withEnv(t, { CLOUD_SECRETS_PROVIDER: 'gcp', GOOGLE_APPLICATION_CREDENTIALS: join(emptyDir(), 'missing.json') })
  const missing = await start(t)
  t.equal(missing.error?.code, 'FST_CLOUD_SECRETS_NO_CREDENTIALS')
  t.match(missing.error?.message, /GOOGLE_APPLICATION_CREDENTIALS: failed \(cannot read .*missing\.json \(ENOENT\)\)/)

  const leaked = randomSecret('pk')
  const broken = join(emptyDir(), 'broken.json')
  writeFileSync(broken, `{"type":"service_account","private_key":"${leaked}`)
  withEnv(t, { GOOGLE_APPLICATION_CREDENTIALS: broken })
  const bad = await start(t)
  t.equal(bad.error?.code, 'FST_CLOUD_SECRETS_NO_CREDENTIALS')
  t.match(bad.error?.message, /is not valid JSON/)
  t.notOk(inspect(bad.error, { depth: 8 }).includes(leaked))

  const weird = join(emptyDir(), 'weird.json')
  writeFileSync(weird, '{"type":"api_key"}')
  withEnv(t, { GOOGLE_APPLICATION_CREDENTIALS: weird })
  const unknown = await start(t)
  t.match(unknown.error?.message, /credential type "api_key"/)

  const config = emptyDir()
  writeFileSync(join(config, 'application_default_credentials.json'), 'not json')
  withEnv(t, { GOOGLE_APPLICATION_CREDENTIALS: undefined, CLOUDSDK_CONFIG: config })
  const gcloudBroken = await start(t)
  t.equal(gcloudBroken.error?.code, 'FST_CLOUD_SECRETS_NO_CREDENTIALS')
  t.match(gcloudBroken.error?.message, /run `gcloud auth application-default login` again/)
})

test('an invalid METADATA_SERVER_DETECTION is a config error', async (t) => {
  await startFakes(t)
  withEnv(t, { CLOUD_SECRETS_PROVIDER: 'gcp', METADATA_SERVER_DETECTION: 'sometimes' })
  const { error } = await start(t)
  t.equal(error?.code, 'FST_CLOUD_SECRETS_CONFIG')
  t.match(error?.message, /METADATA_SERVER_DETECTION/)
})
