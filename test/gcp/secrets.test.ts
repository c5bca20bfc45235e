import { test } from 'tap'
import type { Test } from 'tap'
import { writeAuthorizedUser, writeServiceAccountKey } from '../fakes/gcp/index.js'
import type { GcpFakes } from '../fakes/gcp/index.js'
import { emptyDir, SA_EMAIL, start, startFakes, withEnv, type Started } from './helpers.js'

type Failure = Error & { code?: string, kind?: string, errors?: Array<Error & { code: string, alias?: string, principal?: string, permission?: string, fix: string }> }

/** A key-file app (the fastest identity) with `secrets`; returns the startup result. */
async function keyApp (t: Test, fakes: GcpFakes, secrets: Record<string, string>, timeoutMs?: number): Promise<Started> {
  const key = writeServiceAccountKey(fakes.world, SA_EMAIL)
  withEnv(t, { GOOGLE_APPLICATION_CREDENTIALS: key.file })
  return await start(t, { provider: 'gcp', secrets, timeoutMs }, { pluginTimeout: timeoutMs === undefined ? undefined : timeoutMs + 2000 })
}

function only (t: Test, error: Error | undefined): NonNullable<Failure['errors']>[number] {
  const failure = error as Failure | undefined
  t.equal(failure?.code, 'FST_CLOUD_SECRETS_LOAD_FAILED')
  t.equal(failure?.errors?.length, 1)
  return (failure?.errors ?? [])[0]
}

test('references: short ids, full names, pinned versions, aliases, regional secrets, JSON keys, one call per version', async (t) => {
  const fakes = await startFakes(t)
  const { world } = fakes
  world.addSecret('projects/demo-project/secrets/db', ['v1', 'v2', { value: 'v3-disabled', state: 'DISABLED' }])
  world.addSecret('projects/other-project/secrets/shared', ['s1'], { stable: 1 })
  world.addSecret('projects/demo-project/locations/europe-west1/secrets/eu-key', JSON.stringify({ api: { token: 'eu-t' }, n: 7 }))
  world.addSecret('projects/demo-project/secrets/config', JSON.stringify({ host: 'db.internal', port: 5432 }))
  world.allowAccess(SA_EMAIL, '*')
  const { app, error } = await keyApp(t, fakes, {
    latest: 'db',
    pinned: 'db?version=1',
    named: 'projects/demo-project/secrets/db/versions/2',
    byNumber: 'projects/123456789012/secrets/db/versions/1',
    alias: 'gcp://projects/other-project/secrets/shared?version=stable',
    regional: 'projects/demo-project/locations/europe-west1/secrets/eu-key#api.token',
    regionalNumber: 'projects/demo-project/locations/europe-west1/secrets/eu-key#n',
    host: 'config#host',
    port: 'config#port',
    again: 'db'
  })
  t.error(error)
  t.same({ ...app.secrets }, { latest: 'v2', pinned: 'v1', named: 'v2', byNumber: 'v1', alias: 's1', regional: 'eu-t', regionalNumber: '7', host: 'db.internal', port: '5432', again: 'v2' })
  t.equal(world.counters.access.get('projects/demo-project/secrets/db/versions/latest'), 1, 'two aliases of one version: one call')
  t.equal(world.counters.access.get('projects/demo-project/secrets/config/versions/latest'), 1)
  t.equal(world.counters.access.get('projects/demo-project/locations/europe-west1/secrets/eu-key/versions/latest'), 1)
  t.ok(world.counters.hosts.includes('secretmanager.europe-west1.rep.googleapis.com:443'), 'regional secrets go to the regional endpoint')
  t.equal(world.counters.hosts.filter((h) => h.startsWith('secretmanager.europe-west1')).length, 1)
})

test('CRC32C mismatch → INTEGRITY; a payload without a checksum is accepted', async (t) => {
  const fakes = await startFakes(t)
  fakes.world.addSecret('projects/demo-project/secrets/db', 'value')
  fakes.world.allowAccess(SA_EMAIL, '*')
  fakes.world.faults.secretManager.badCrc = true
  const bad = await keyApp(t, fakes, { db: 'db' })
  const err = only(t, bad.error)
  t.equal(err.code, 'FST_CLOUD_SECRETS_INTEGRITY')
  t.match(err.message, /CRC32C/)
  t.equal(err.alias, 'db')
  t.equal(fakes.world.totalAccessCalls(), 1, 'not retried')

  fakes.world.faults.secretManager = { noCrc: true }
  const ok = await keyApp(t, fakes, { db: 'db' })
  t.error(ok.error)
  t.equal(ok.app.secrets.db, 'value')
})

test('NOT_FOUND for a missing secret or version; ?optional makes it undefined with a warning', async (t) => {
  const fakes = await startFakes(t)
  fakes.world.addSecret('projects/demo-project/secrets/db', 'v')
  fakes.world.allowAccess(SA_EMAIL, '*')
  const missing = await keyApp(t, fakes, { nope: 'does-not-exist', v9: 'db?version=9', maybe: 'sentry-dsn?optional' })
  const failure = missing.error as Failure
  t.equal(failure.code, 'FST_CLOUD_SECRETS_LOAD_FAILED')
  const byAlias = Object.fromEntries((failure.errors ?? []).map((e) => [e.alias, e]))
  t.same(Object.keys(byAlias).sort(), ['nope', 'v9'])
  t.equal(byAlias.nope.code, 'FST_CLOUD_SECRETS_NOT_FOUND')
  t.match(byAlias.nope.message, /gcloud secrets create does-not-exist --project demo-project/)
  t.equal(byAlias.v9.code, 'FST_CLOUD_SECRETS_NOT_FOUND')
  t.match(byAlias.v9.message, /version 9 of secret db/)
  t.match(byAlias.v9.message, /gcloud secrets versions list db --project demo-project/)
  t.match(missing.logs.text(), /optional secret is absent/)
})

test('a disabled version → NOT_FOUND with the enable command', async (t) => {
  const fakes = await startFakes(t)
  fakes.world.addSecret('projects/demo-project/secrets/db', ['v1', { value: 'v2', state: 'DISABLED' }])
  fakes.world.allowAccess(SA_EMAIL, '*')
  const err = only(t, (await keyApp(t, fakes, { db: 'db?version=2' })).error)
  t.equal(err.code, 'FST_CLOUD_SECRETS_NOT_FOUND')
  t.match(err.message, /DISABLED/)
  t.match(err.message, /gcloud secrets versions enable VERSION --secret db --project demo-project/)
})

test('PERMISSION_DENIED → ACCESS_DENIED naming the service account, the role and the exact gcloud command', async (t) => {
  const fakes = await startFakes(t)
  fakes.world.addSecret('projects/demo-project/secrets/db', 'v')
  fakes.world.addSecret('projects/demo-project/locations/us-central1/secrets/us-db', 'v')
  const { error } = await keyApp(t, fakes, { db: 'db', usDb: 'projects/demo-project/locations/us-central1/secrets/us-db' })
  const failure = error as Failure
  const [db, usDb] = (failure.errors ?? []).sort((a, b) => String(a.alias).localeCompare(String(b.alias)))
  t.equal(db.code, 'FST_CLOUD_SECRETS_ACCESS_DENIED')
  t.equal(db.principal, SA_EMAIL)
  t.equal(db.permission, 'roles/secretmanager.secretAccessor')
  t.match(db.message, `gcloud secrets add-iam-policy-binding db --project demo-project --member serviceAccount:${SA_EMAIL} --role roles/secretmanager.secretAccessor`)
  t.match(db.message, `gcloud projects add-iam-policy-binding demo-project --member serviceAccount:${SA_EMAIL} --role roles/secretmanager.secretAccessor`)
  t.match(usDb.message, `gcloud secrets add-iam-policy-binding us-db --project demo-project --location us-central1 --member serviceAccount:${SA_EMAIL}`)
  t.match(failure.message, /db \(gcp\) FST_CLOUD_SECRETS_ACCESS_DENIED/)
})

test('ACCESS_DENIED for a gcloud user: user:EMAIL, or a placeholder and how to find it when the email is unknown', async (t) => {
  const fakes = await startFakes(t)
  const config = emptyDir()
  writeAuthorizedUser(fakes.world, 'dev@example.com', config)
  fakes.world.addSecret('projects/demo-project/secrets/db', 'v')
  withEnv(t, { CLOUDSDK_CONFIG: config, GOOGLE_CLOUD_PROJECT: 'demo-project' })
  const known = await start(t, { provider: 'gcp', secrets: { db: 'db' } })
  t.match(only(t, known.error).message, '--member user:dev@example.com --role roles/secretmanager.secretAccessor')

  fakes.world.tokeninfoDown = true
  const unknown = await start(t, { provider: 'gcp', secrets: { db: 'db' } })
  t.equal(unknown.app.cloud?.identity?.principal, undefined)
  const err = only(t, unknown.error)
  t.match(err.message, '--member user:YOUR_EMAIL')
  t.match(err.message, /gcloud config get-value account/)
})

test('UNAUTHENTICATED → TOKEN; INVALID_ARGUMENT → CONFIG; a disabled API → the services enable command', async (t) => {
  const fakes = await startFakes(t)
  fakes.world.allowAccess(SA_EMAIL, '*')
  fakes.world.faults.secretManager.always = { code: 16, details: 'Request had invalid authentication credentials.' }
  const token = only(t, (await keyApp(t, fakes, { db: 'db' })).error)
  t.equal(token.code, 'FST_CLOUD_SECRETS_TOKEN')
  t.match(token.message, SA_EMAIL)
  t.match(token.message, /key in GOOGLE_APPLICATION_CREDENTIALS was deleted or disabled/)

  fakes.world.faults.secretManager.always = { code: 3, details: 'Invalid resource field value in the request.' }
  t.equal(only(t, (await keyApp(t, fakes, { db: 'db' })).error).code, 'FST_CLOUD_SECRETS_CONFIG')

  fakes.world.faults.secretManager.always = { code: 7, details: 'Secret Manager API has not been used in project 123456789012 before or it is disabled.' }
  const disabled = only(t, (await keyApp(t, fakes, { db: 'db' })).error)
  t.equal(disabled.code, 'FST_CLOUD_SECRETS_ACCESS_DENIED')
  t.match(disabled.message, 'gcloud services enable secretmanager.googleapis.com --project demo-project')
})

test('google.rpc.Status details: ErrorInfo SERVICE_DISABLED → the services enable command; RetryInfo beyond the deadline → THROTTLED at once', async (t) => {
  const fakes = await startFakes(t)
  fakes.world.allowAccess(SA_EMAIL, '*')
  // the reason alone (no telltale text in the message) must classify it
  fakes.world.faults.secretManager.always = { code: 7, details: 'Permission denied on resource project demo-project.', reason: 'SERVICE_DISABLED' }
  const disabled = only(t, (await keyApp(t, fakes, { db: 'db' })).error)
  t.equal(disabled.code, 'FST_CLOUD_SECRETS_ACCESS_DENIED')
  t.match(disabled.message, 'gcloud services enable secretmanager.googleapis.com --project demo-project')

  fakes.world.reset()
  fakes.world.faults.secretManager.always = { code: 8, details: 'Quota exceeded for quota metric Access requests.', retryDelaySeconds: 30 }
  const throttled = await keyApp(t, fakes, { db: 'db' }, 4000)
  t.match(throttled.error?.message, /FST_CLOUD_SECRETS_THROTTLED/)
  t.match(throttled.error?.message, /the store asked to retry after 30 s, beyond the remaining startup deadline/, 'RetryInfo was read')
  t.equal(fakes.world.totalAccessCalls(), 1, 'one call: no retry the store said not to make')
})

test('RESOURCE_EXHAUSTED and UNAVAILABLE are retried by the plugin, one SDK attempt per try', async (t) => {
  const fakes = await startFakes(t)
  fakes.world.addSecret('projects/demo-project/secrets/db', 'v')
  fakes.world.allowAccess(SA_EMAIL, '*')
  fakes.world.faults.secretManager.failures = [{ code: 8, details: 'Quota exceeded' }, { code: 14, details: 'The service is currently unavailable.' }]
  const { app, error } = await keyApp(t, fakes, { db: 'db' })
  t.error(error)
  t.equal(app.secrets.db, 'v')
  t.equal(fakes.world.totalAccessCalls(), 3, 'two failures, then the value')
})

test('UNAVAILABLE / RESOURCE_EXHAUSTED until the deadline: the coded error inside the deadline, never the SDK\'s 60 s retry', async (t) => {
  const fakes = await startFakes(t)
  fakes.world.allowAccess(SA_EMAIL, '*')
  fakes.world.faults.secretManager.always = { code: 14, details: 'The service is currently unavailable.' }
  const deadline = 1500
  const down = await keyApp(t, fakes, { db: 'db' }, deadline)
  t.ok(down.ms < deadline + 1000, `failed after ${Math.round(down.ms)} ms (deadline ${deadline} ms)`)
  const code = (down.error as Failure).code
  t.ok(code === 'FST_CLOUD_SECRETS_LOAD_FAILED' || code === 'FST_CLOUD_SECRETS_TIMEOUT', String(code))
  t.match(down.error?.message, /UNAVAILABLE|gRPC 14/)
  const calls = fakes.world.totalAccessCalls()
  t.ok(calls >= 2 && calls <= 6, `${calls} calls: retried by the plugin, bounded`)

  fakes.world.reset()
  fakes.world.faults.secretManager.always = { code: 8, details: 'Quota exceeded for quota metric Access requests.' }
  const throttled = await keyApp(t, fakes, { db: 'db' }, deadline)
  t.ok(throttled.ms < deadline + 1000)
  t.match(throttled.error?.message, /FST_CLOUD_SECRETS_THROTTLED/)
})

test('a short id with no default project → CONFIG naming GOOGLE_CLOUD_PROJECT', async (t) => {
  const fakes = await startFakes(t)
  const config = emptyDir()
  writeAuthorizedUser(fakes.world, 'dev@example.com', config)
  withEnv(t, { CLOUDSDK_CONFIG: config })
  const { error, app } = await start(t, { provider: 'gcp', secrets: { db: 'db' } })
  const err = only(t, error)
  t.equal(err.code, 'FST_CLOUD_SECRETS_CONFIG')
  t.match(err.message, /GOOGLE_CLOUD_PROJECT/)
  t.equal(app.cloud?.identity?.project, undefined)
})
