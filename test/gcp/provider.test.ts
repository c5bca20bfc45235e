import { test } from 'tap'
import { inspect } from 'node:util'
import pino from 'pino'
import { Deadline } from '../../src/deadline.js'
import { createStepContext } from '../../src/loader.js'
import { normalizeOptions } from '../../src/options.js'
import { createProvider } from '../../src/providers/gcp/index.js'
import { accessDeniedFix, grantDocuments, iamMember, parseSecretName, projectGrantCommand, secretGrantCommand } from '../../src/providers/gcp/grant.js'
import { classifySecretError, classifyTokenError, safeText, sanitizeCause } from '../../src/providers/gcp/errors.js'
import { crc32c, secretTarget } from '../../src/providers/gcp/secrets.js'
import { assertNoLeak, errorText, randomSecret } from '../helpers/capture.js'
import { crc32cBitwise, writeAuthorizedUser, writeExternalAccount, writeServiceAccountKey } from '../fakes/gcp/index.js'
import { emptyDir, SA_EMAIL, start, startFakes, withEnv } from './helpers.js'

const ref = (alias: string, id: string, extra: Record<string, unknown> = {}) => ({ alias, provider: 'gcp' as const, id, optional: false, raw: id, ...extra })

test('CRC32C (Castagnoli): known vectors and agreement with a bitwise implementation', async (t) => {
  t.equal(crc32c(Buffer.from('123456789')), 0xe3069283)
  t.equal(crc32c(Buffer.alloc(0)), 0)
  t.equal(crc32c(Buffer.alloc(32)), 0x8a9136aa)
  for (let i = 0; i < 50; i++) {
    const data = Buffer.from(randomSecret().repeat(i))
    t.equal(crc32c(data), crc32cBitwise(data))
  }
})

test('grant: members, commands and documents are pure and exact', async (t) => {
  t.same(iamMember({ principal: SA_EMAIL, source: 'gcp:metadata' }), { member: `serviceAccount:${SA_EMAIL}`, placeholder: false })
  t.same(iamMember({ principal: 'dev@example.com', source: 'gcp:authorized-user' }), { member: 'user:dev@example.com', placeholder: false })
  t.equal(iamMember({ principal: 'principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/subject/s', source: 'gcp:external-account' }).member, 'principal://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/subject/s')
  t.match(iamMember({ source: 'gcp:authorized-user' }), { member: 'user:YOUR_EMAIL', placeholder: true, hint: /gcloud config get-value account/ })
  t.match(iamMember({ source: 'gcp:external-account' }), { placeholder: true, member: /^principal:\/\/iam\.googleapis\.com\/projects\/PROJECT_NUMBER/ })
  t.match(iamMember({ source: 'gcp:metadata' }), { member: 'serviceAccount:SERVICE_ACCOUNT_EMAIL', placeholder: true })
  t.equal(secretGrantCommand({ project: 'p1', secret: 's' }, 'user:a@b.c'), 'gcloud secrets add-iam-policy-binding s --project p1 --member user:a@b.c --role roles/secretmanager.secretAccessor')
  t.equal(secretGrantCommand({ project: 'p1', location: 'us-central1', secret: 's' }, 'serviceAccount:x@p1.iam.gserviceaccount.com'), 'gcloud secrets add-iam-policy-binding s --project p1 --location us-central1 --member serviceAccount:x@p1.iam.gserviceaccount.com --role roles/secretmanager.secretAccessor')
  t.equal(projectGrantCommand('p1', "user:o'neil@x.y"), "gcloud projects add-iam-policy-binding p1 --member 'user:o'\\''neil@x.y' --role roles/secretmanager.secretAccessor")
  t.match(accessDeniedFix({ project: 'p', secret: 's' }, { source: 'gcp:metadata' }), /replace SERVICE_ACCOUNT_EMAIL with the service account/)
  t.same(parseSecretName('projects/p/locations/l/secrets/s/versions/3'), { project: 'p', location: 'l', secret: 's', version: '3' })
  t.equal(parseSecretName('s'), undefined)

  const docs = grantDocuments([ref('a', 'db'), ref('b', 'db', { version: '1' }), ref('c', 'projects/other/secrets/x'), ref('d', 'projects/p/locations/eu/secrets/y'), { ...ref('e', 'z'), provider: 'aws' as never }], { principal: SA_EMAIL, source: 'gcp:service-account-key', project: 'p' })
  t.equal(docs.length, 2)
  t.equal(docs[0].format, 'sh')
  t.same(docs[0].text.trim().split('\n'), [
    `gcloud secrets add-iam-policy-binding db --project p --member serviceAccount:${SA_EMAIL} --role roles/secretmanager.secretAccessor`,
    `gcloud secrets add-iam-policy-binding x --project other --member serviceAccount:${SA_EMAIL} --role roles/secretmanager.secretAccessor`,
    `gcloud secrets add-iam-policy-binding y --project p --location eu --member serviceAccount:${SA_EMAIL} --role roles/secretmanager.secretAccessor`
  ])
  t.same(docs[1].text.trim().split('\n'), [
    `gcloud projects add-iam-policy-binding p --member serviceAccount:${SA_EMAIL} --role roles/secretmanager.secretAccessor`,
    `gcloud projects add-iam-policy-binding other --member serviceAccount:${SA_EMAIL} --role roles/secretmanager.secretAccessor`
  ])
  t.match(grantDocuments([ref('a', 'db')], { source: 'gcp:authorized-user' })[0].text, /^# replace YOUR_EMAIL/)
  t.same(grantDocuments([], { source: 'gcp:metadata' }), [])
})

test('error classification keeps causes clean and covers the remaining codes', async (t) => {
  const token = randomSecret('ya29')
  const gaxiosLike = Object.assign(new Error(`request failed: Bearer ${token}`), { config: { data: { refresh_token: token }, url: 'https://oauth2.googleapis.com/token' }, response: { status: 503, data: { error: 'backend', error_description: 'busy' } } })
  const clean = sanitizeCause(gaxiosLike)
  t.notOk(inspect(clean, { depth: 8 }).includes(token))
  t.equal((clean as { status?: number }).status, 503)
  t.equal(safeText('token=abcdefghijklmnopqrstuvwxyz'), 'token=[redacted]')
  const ctx = { what: 'x', source: 'gcp:metadata', endpoint: 'http://m' }
  t.match(classifyTokenError(gaxiosLike, ctx), { kind: 'UNAVAILABLE', retryable: true })
  t.match(classifyTokenError(Object.assign(new Error('x'), { response: { status: 429 } }), ctx), { kind: 'THROTTLED', retryable: true })
  t.match(classifyTokenError(Object.assign(new Error('x'), { code: 'ECONNRESET' }), ctx), { kind: 'UNAVAILABLE', retryable: true })
  t.match(classifyTokenError(Object.assign(new Error('denied'), { response: { status: 403, data: { error: { status: 'PERMISSION_DENIED', message: 'no' } } } }), { ...ctx, source: 'gcp:impersonated-service-account' }), { kind: 'TOKEN', message: /roles\/iam\.serviceAccountTokenCreator/ })
  t.match(classifyTokenError(new Error('weird'), { ...ctx, source: 'other' }), { kind: 'TOKEN', message: /gcloud auth application-default login/ })
  const sctx = { name: 'projects/p/secrets/s/versions/latest', where: { project: 'p', secret: 's' }, version: 'latest', identity: { source: 'gcp:metadata' }, endpoint: 'secretmanager.googleapis.com' }
  t.match(classifySecretError(Object.assign(new Error('x'), { code: 13, details: 'internal' }), sctx), { kind: 'UNAVAILABLE', retryable: true })
  t.match(classifySecretError(Object.assign(new Error('x'), { code: 1, details: 'cancelled' }), sctx), { kind: 'UNAVAILABLE', retryable: false })
  t.match(classifySecretError(Object.assign(new Error('x'), { code: 14, details: 'Getting metadata from plugin failed with error: invalid_grant' }), sctx), { kind: 'TOKEN' })
  t.match(classifySecretError(Object.assign(new Error('socket'), { code: 'ECONNRESET' }), sctx), { kind: 'UNAVAILABLE', retryable: true })
  t.match(classifySecretError(Object.assign(new Error('x'), { code: 7, details: 'denied' }), sctx), { kind: 'ACCESS_DENIED', message: /the gcp:metadata credential may not read/ })
  t.match(secretTarget(ref('a', 'projects/p/locations/l/secrets/s', { version: 'prod' }), undefined), { name: 'projects/p/locations/l/secrets/s/versions/prod', endpoint: 'secretmanager.l.rep.googleapis.com' })
})

test('the provider directly: attempts(), grant(), and close() twice', async (t) => {
  const fakes = await startFakes(t)
  const key = writeServiceAccountKey(fakes.world, SA_EMAIL)
  const env = { ...process.env, GOOGLE_APPLICATION_CREDENTIALS: key.file }
  const config = normalizeOptions({ provider: 'gcp', env, secrets: { db: 'db' } }, { pluginTimeout: 10_000 })
  const log = pino({ level: 'silent' })
  const provider = await createProvider({ config, log })
  t.teardown(async () => { await provider.close() })
  const deadline = new Deadline(5000)
  t.teardown(() => { deadline.dispose() })
  const identity = await provider.resolveIdentity(createStepContext(deadline, log))
  t.same(provider.attempts?.(), [{ source: 'GOOGLE_APPLICATION_CREDENTIALS', outcome: 'ok', reason: `service_account credentials in ${key.file}; self-signed JWT obtained` }])
  t.match(provider.grant?.(config.references, identity)[0].text, `gcloud secrets add-iam-policy-binding db --project demo-project --member serviceAccount:${SA_EMAIL}`)
  await provider.close()
  await provider.close()
  t.throws(() => (provider.clients() as { client: (c: new () => object) => object }).client(class Late {}), /closed/)
})

test('CLOUD_SECRETS_CHECK_SCOPES: a token per extra scope (key file, metadata server, federation; gcloud login checks granted scopes)', async (t) => {
  const fakes = await startFakes(t)
  const scope = 'https://www.googleapis.com/auth/sqlservice.admin'
  const key = writeServiceAccountKey(fakes.world, SA_EMAIL)
  withEnv(t, { CLOUD_SECRETS_CHECK_SCOPES: scope, GOOGLE_CLOUD_PROJECT: 'demo-project', CLOUD_SECRETS_PROVIDER: 'gcp' })

  withEnv(t, { GOOGLE_APPLICATION_CREDENTIALS: key.file })
  t.error((await start(t)).error)
  t.ok([...fakes.world.tokens.values()].some((g) => g.principal === SA_EMAIL && g.scopes.includes(scope)), 'a jwt-bearer grant for the scope')

  const wif = writeExternalAccount(fakes.world, { sub: 'ci' })
  withEnv(t, { GOOGLE_APPLICATION_CREDENTIALS: wif.file })
  t.error((await start(t)).error)
  t.ok([...fakes.world.tokens.values()].some((g) => g.principal === wif.principal && g.scopes.includes(scope)), 'an STS exchange for the scope')

  withEnv(t, { GOOGLE_APPLICATION_CREDENTIALS: undefined, K_SERVICE: 'api', GCE_METADATA_HOST: fakes.metadata.host })
  t.error((await start(t)).error)
  t.ok([...fakes.world.tokens.values()].some((g) => g.principal === fakes.world.metadataIdentity.email && g.scopes.includes(scope)), 'a metadata token for ?scopes=')

  const config = emptyDir()
  writeAuthorizedUser(fakes.world, 'dev@example.com', config)
  withEnv(t, { K_SERVICE: undefined, GCE_METADATA_HOST: undefined, CLOUDSDK_CONFIG: config, CLOUD_SECRETS_CHECK_SCOPES: `${scope} https://www.googleapis.com/auth/drive` })
  const { error } = await start(t)
  t.equal((error as { code?: string }).code, 'FST_CLOUD_SECRETS_LOAD_FAILED')
  t.match(error?.message, /was not granted scope https:\/\/www\.googleapis\.com\/auth\/sqlservice\.admin/)
  t.match(error?.message, /gcloud auth application-default login --scopes=/)
})

test('no leak: values, access tokens, refresh tokens, private keys and subject tokens never reach logs, errors or inspect', async (t) => {
  const fakes = await startFakes(t)
  const config = emptyDir()
  const login = writeAuthorizedUser(fakes.world, 'dev@example.com', config)
  const key = writeServiceAccountKey(fakes.world, SA_EMAIL)
  const wif = writeExternalAccount(fakes.world, { sub: 'ci', impersonate: SA_EMAIL })
  const values = [randomSecret(), randomSecret(), JSON.stringify({ password: randomSecret() })]
  fakes.world.addSecret('projects/demo-project/secrets/a', values[0])
  fakes.world.addSecret('projects/demo-project/secrets/b', values[1])
  fakes.world.addSecret('projects/demo-project/secrets/c', values[2])
  fakes.world.allowAccess('dev@example.com', 'projects/demo-project/secrets/a', 'projects/demo-project/secrets/c')
  withEnv(t, { CLOUDSDK_CONFIG: config, GOOGLE_CLOUD_PROJECT: 'demo-project', CLOUD_SECRETS_PROVIDER: 'gcp' })

  const ok = await start(t, { secrets: { a: 'a', pw: 'c#password' } })
  t.error(ok.error)
  const seen = [ok.logs.text(), inspect(ok.app.cloud, { depth: 10 }), JSON.stringify(ok.app.cloud), inspect(ok.app.secrets), JSON.stringify(ok.app.secrets), inspect(ok.app.cloud.gcp, { depth: 10 })]

  const badValues = await start(t, { secrets: { a: 'a', b: 'b' } })
  seen.push(badValues.logs.text(), errorText(badValues.error))
  fakes.world.faults.secretManager.badCrc = true
  const corrupt = await start(t, { secrets: { a: 'a' } })
  seen.push(corrupt.logs.text(), errorText(corrupt.error))
  fakes.world.faults.secretManager = {}
  fakes.world.refreshTokens.delete(login.refreshToken)
  const revoked = await start(t, { secrets: { a: 'a' } })
  seen.push(revoked.logs.text(), errorText(revoked.error))
  withEnv(t, { GOOGLE_APPLICATION_CREDENTIALS: wif.file })
  const denied = await start(t, { secrets: { a: 'a' } })
  seen.push(denied.logs.text(), errorText(denied.error))
  withEnv(t, { GOOGLE_APPLICATION_CREDENTIALS: key.file })
  fakes.world.faults.secretManager.always = { code: 16, details: 'invalid' }
  const rejected = await start(t, { secrets: { a: 'a' } })
  seen.push(rejected.logs.text(), errorText(rejected.error))

  t.ok([badValues, corrupt, revoked, denied, rejected].every((r) => r.error !== undefined), 'every failing startup failed')
  const password = (JSON.parse(values[2]) as { password: string }).password
  const needles = [...values, password, ...fakes.world.issued, login.refreshToken, login.clientSecret, wif.subjectToken, ...key.privateKey.split('\n').filter((l) => l.length > 40)]
  assertNoLeak(t, seen.join('\n'), needles, 'logs, errors and inspect output of successful and failing startups')
})

test('nothing connected outside loopback', async (t) => {
  t.same((globalThis as { __loopbackViolations?: string[] }).__loopbackViolations, [])
})
