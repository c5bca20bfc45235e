import { test } from 'tap'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import { inspect } from 'node:util'
import cloudSecrets, { CloudSecretsError } from '../../src/index.js'
import { setEnv } from '../aws/helpers.js'
import { startAwsFakes } from '../fakes/aws/index.js'
import { assertNoLeak, captureLogs, errorText, randomSecret } from '../helpers/capture.js'

test('loads values through provider local: plain, #json.key, ?optional; later plugins see them', async (t) => {
  const jwtKey = randomSecret()
  const password = randomSecret()
  const logs = captureLogs()
  const app = Fastify({ logger: logs.logger })
  t.teardown(() => app.close())
  await app.register(cloudSecrets, {
    provider: 'local',
    secrets: { jwtKey: 'jwt', dbPassword: 'db#creds.password', dbPort: 'db#port', sentry: 'sentry-dsn?optional' },
    local: { values: { jwt: jwtKey, db: JSON.stringify({ creds: { password }, port: 5432 }) } }
  })
  let seenInOptions: string | undefined
  await app.register(fp(async (_instance, opts: { key?: string }) => { seenInOptions = opts.key }), { key: app.secrets.jwtKey })
  await app.ready()

  t.equal(app.secrets.jwtKey, jwtKey)
  t.equal(app.secrets.dbPassword, password)
  t.equal(app.secrets.dbPort, '5432', 'non-string JSON values become strings')
  t.equal(app.secrets.sentry, undefined)
  t.ok(Object.hasOwn(app.secrets, 'sentry'), 'an absent optional secret is an own key with undefined')
  t.equal(seenInOptions, jwtKey, 'a plugin registered after it gets the value in its options')
  t.same(Object.keys(app.secrets), ['jwtKey', 'dbPassword', 'dbPort', 'sentry'], 'configured order')
  t.ok(Object.isFrozen(app.secrets))
  t.same(JSON.parse(JSON.stringify(app.secrets)), { jwtKey: '[redacted]', dbPassword: '[redacted]', dbPort: '[redacted]' })
  t.equal(inspect(app.secrets), 'CloudSecrets { jwtKey: [redacted], dbPassword: [redacted], dbPort: [redacted], sentry: undefined }')
  t.equal(`${app.secrets as unknown as string}`, '[CloudSecrets]')

  const records = logs.records()
  const info = records.filter((r) => r.msg === 'cloud secrets loaded')
  t.equal(info.length, 1, 'one info line at startup')
  t.match(info[0], { level: 30, plugin: 'fastify-cloud-secrets', provider: 'local', platform: 'local', source: 'local', secrets: 4 })
  t.type(info[0].ms, 'number')
  t.equal(records.filter((r) => r.msg === 'secret loaded' && r.plugin === 'fastify-cloud-secrets').length, 3, 'debug line per loaded secret')
  t.match(records.find((r) => r.level === 40), { alias: 'sentry', code: 'FST_CLOUD_SECRETS_NOT_FOUND' }, 'warn for the absent optional secret')

  app.log.info({ secrets: app.secrets, cloud: app.cloud }, 'the app logs the objects by mistake')
  assertNoLeak(t, logs.text() + inspect(app.cloud, { depth: 10 }) + JSON.stringify(app.cloud), [jwtKey, password])
})

test("the README's logging rule is true both ways: as a property redacted, as pino's merging object printed", async (t) => {
  const jwtKey = randomSecret()
  const logs = captureLogs()
  const app = Fastify({ logger: logs.logger })
  t.teardown(() => app.close())
  await app.register(cloudSecrets, { provider: 'local', secrets: { jwtKey: 'jwt' }, local: { values: { jwt: jwtKey } } })
  await app.ready()
  app.log.info({ secrets: app.secrets }, 'as a property')
  assertNoLeak(t, logs.text(), [jwtKey])
  app.log.info(app.secrets, 'as the merging object')
  t.match(logs.records().find((r) => r.msg === 'as the merging object'), { jwtKey }, 'pino copies the own keys of a merging object: the README says never to do this')
})

test('app.cloud carries the identity; request.cloud is the same object through a getter', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(cloudSecrets, { provider: 'local', secrets: {} })
  const seen: unknown[] = []
  app.get('/', async (request) => { seen.push(request.cloud); return request.cloud.identity })
  await app.ready()
  t.same(app.cloud.identity, { provider: 'local', platform: 'local', source: 'local' })
  t.same(app.cloud.identities, { local: { provider: 'local', platform: 'local', source: 'local' } })
  t.ok(app.cloud.local, 'per-provider handles')
  const res = await app.inject('/')
  t.equal(res.json().provider, 'local')
  await app.inject('/')
  t.equal(seen[0], app.cloud, 'request.cloud is app.cloud')
  t.equal(seen[1], seen[0], 'no per-request allocation')
  t.same(JSON.parse(JSON.stringify(app.cloud)), { identity: app.cloud.identity, identities: app.cloud.identities })
})

test('every failed secret of one startup is reported together in LOAD_FAILED', async (t) => {
  const present = randomSecret()
  const logs = captureLogs()
  const app = Fastify({ logger: logs.logger })
  t.teardown(() => app.close())
  app.register(cloudSecrets, {
    provider: 'local',
    secrets: { a: 'missing-one', b: 'missing-two', c: 'present#nokey', d: 'notjson#k', ok: 'present' },
    local: { values: { present: JSON.stringify({ x: present }), notjson: present } }
  })
  const err = await app.ready().then(() => undefined, (e: unknown) => e) as CloudSecretsError
  t.ok(err instanceof CloudSecretsError)
  t.equal(err.code, 'FST_CLOUD_SECRETS_LOAD_FAILED')
  t.same(err.errors?.map((e) => [e.alias, e.code]), [
    ['a', 'FST_CLOUD_SECRETS_NOT_FOUND'], ['b', 'FST_CLOUD_SECRETS_NOT_FOUND'], ['c', 'FST_CLOUD_SECRETS_NOT_FOUND'], ['d', 'FST_CLOUD_SECRETS_NOT_FOUND']
  ])
  for (const alias of ['a', 'b', 'c', 'd']) t.match(err.message, new RegExp(`- ${alias} \\(local\\) FST_CLOUD_SECRETS_NOT_FOUND`))
  t.match(err.message, /is not a JSON object/)
  t.match(err.message, /has no JSON key "nokey"/)
  t.match(err.message, /\nFix: .+$/, 'the message ends with what to do next')
  assertNoLeak(t, errorText(err) + logs.text(), [present])
})

test('custom checks run at boot with the clients; a failing check fails startup with its name', async (t) => {
  let received: unknown
  const ok = Fastify()
  t.teardown(() => ok.close())
  await ok.register(cloudSecrets, { provider: 'local', checks: { custom: [async function canReachDb (cloud) { received = cloud.identity }] } })
  t.same(received, { provider: 'local', platform: 'local', source: 'local' })

  const bad = Fastify()
  t.teardown(() => bad.close())
  bad.register(cloudSecrets, {
    provider: 'local',
    secrets: { missing: 'nope' },
    checks: { custom: { 'sql token': async () => { throw new Error('login failed for user') }, fine: () => {} } }
  })
  const err = await bad.ready().then(() => undefined, (e: unknown) => e) as CloudSecretsError
  t.equal(err.code, 'FST_CLOUD_SECRETS_LOAD_FAILED', 'check failures and secret failures are reported together')
  t.same(err.errors?.map((e) => e.code), ['FST_CLOUD_SECRETS_CHECK_FAILED', 'FST_CLOUD_SECRETS_NOT_FOUND'])
  t.equal(err.errors?.[0].check, 'sql token')
  t.match(err.message, /check "sql token" FST_CLOUD_SECRETS_CHECK_FAILED: startup check "sql token" failed: login failed for user/)

  const anon = Fastify()
  t.teardown(() => anon.close())
  anon.register(cloudSecrets, { provider: 'local', checks: { custom: [() => { throw new CloudSecretsError('ACCESS_DENIED', 'no access to the queue') }] } })
  const err2 = await anon.ready().then(() => undefined, (e: unknown) => e) as CloudSecretsError
  t.equal(err2.errors?.[0].code, 'FST_CLOUD_SECRETS_ACCESS_DENIED', 'a coded error from a check keeps its code')
  t.equal(err2.errors?.[0].check, 'check #1')
})

test('a hung step surfaces as FST_CLOUD_SECRETS_TIMEOUT naming what was pending, never FST_ERR_PLUGIN_TIMEOUT', async (t) => {
  const app = Fastify({ pluginTimeout: 600 })
  t.teardown(() => app.close())
  app.register(cloudSecrets, { provider: 'local', checks: { custom: { 'hangs forever': async () => await new Promise(() => {}) } } })
  const started = Date.now()
  const err = await app.ready().then(() => undefined, (e: unknown) => e) as CloudSecretsError
  const elapsed = Date.now() - started
  t.equal(err.code, 'FST_CLOUD_SECRETS_TIMEOUT')
  t.same(err.pending, ['check "hangs forever"'])
  t.match(err.message, /did not finish within 480 ms; still pending: check "hangs forever"/)
  t.ok(elapsed < 600, 'the default deadline fits inside pluginTimeout')
})

test('invalid config fails before anything runs, every problem listed', async (t) => {
  let ran = false
  const app = Fastify({ pluginTimeout: 5000 })
  t.teardown(() => app.close())
  app.register(cloudSecrets, {
    provider: 'local',
    timeoutMs: 9000,
    secrets: { ok: 'x', 'bad alias': 'y', s: 'name?stage=AWSPREVIOUS' },
    checks: { custom: [async () => { ran = true }] },
    // @ts-expect-error unknown option
    secretz: {}
  })
  const err = await app.ready().then(() => undefined, (e: unknown) => e) as CloudSecretsError
  t.equal(err.code, 'FST_CLOUD_SECRETS_CONFIG')
  t.equal(err.problems?.length, 4)
  t.match(err.message, /options\.secretz: unknown option/)
  t.match(err.message, /must be below Fastify's pluginTimeout \(5000 ms\)/)
  t.match(err.message, /alias "bad alias"/)
  t.match(err.message, /stage= is an AWS version stage/)
  t.notOk(ran, 'no check ran')
})

test('checks.scopes are only for azure and gcp; a refresh interval under 60 s warns', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.register(cloudSecrets, { provider: 'local', checks: { scopes: ['https://database.windows.net/.default'] } })
  const err = await app.ready().then(() => undefined, (e: unknown) => e) as CloudSecretsError
  t.equal(err.code, 'FST_CLOUD_SECRETS_CONFIG')
  t.match(err.message, /token scopes are checked on azure and gcp/)

  const logs = captureLogs()
  const app2 = Fastify({ logger: logs.logger })
  t.teardown(() => app2.close())
  await app2.register(cloudSecrets, { provider: 'local', env: { CLOUD_SECRETS_REFRESH_MS: '30s' } })
  t.match(logs.records().find((r) => r.level === 40), { intervalMs: 30000, msg: /refresh every 30s is under 60s/ })
})

test('configured from env vars only, including the local file', async (t) => {
  const { mkdtempSync, writeFileSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { tmpdir } = await import('node:os')
  const dir = mkdtempSync(join(tmpdir(), 'fcs-env-'))
  const value = randomSecret()
  writeFileSync(join(dir, 'values.env'), `# dummy values\nAPI_KEY=${value}\nexport DB='{"user":"app"}'\n`)
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(cloudSecrets, { env: { CLOUD_SECRETS_LOCAL_FILE: join(dir, 'values.env'), CLOUD_SECRETS: 'apiKey=API_KEY,\n dbUser = DB#user , ' } })
  t.equal(app.secrets.apiKey, value)
  t.equal(app.secrets.dbUser, 'app')
  t.equal(app.cloud.identity.provider, 'local', 'auto picks local when only local values are configured')
})

test('provider auto without any marker is a CONFIG error listing the choices', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  app.register(cloudSecrets, { env: { CLOUD_SECRETS: 'a=b' } })
  const err = await app.ready().then(() => undefined, (e: unknown) => e) as CloudSecretsError
  t.equal(err.code, 'FST_CLOUD_SECRETS_CONFIG')
  t.match(err.message, /one of aws, gcp, azure, local/)
})

test('onClose closes the providers it created: the store connections are gone after close()', async (t) => {
  const fakes = await startAwsFakes()
  t.teardown(() => fakes.close())
  fakes.world.putSecret('oc/a', randomSecret('oc'))
  const keys = fakes.world.issue('arn:aws:iam::123456789012:user/oc', ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue'], { session: false })
  // the AWS SDK's chain reads process.env itself
  setEnv(t, { ...fakes.env, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey })
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(cloudSecrets, { provider: 'aws', secrets: { a: 'oc/a' } })
  t.ok(fakes.sm.openConnections > 0, `a keep-alive connection to the store is open after boot (${fakes.sm.openConnections})`)
  await app.close()
  // the client side destroyed its sockets; the server sees each close a moment later
  for (let i = 0; i < 100 && fakes.sm.openConnections > 0; i++) await new Promise((resolve) => setImmediate(resolve))
  t.equal(fakes.sm.openConnections, 0, 'every store connection is closed by onClose')
})

test('options.signal: an abort during boot ends it with ABORTED naming what was pending, and closes what was opened', async (t) => {
  const ac = new AbortController()
  const app = Fastify({ pluginTimeout: 20_000 })
  t.teardown(() => app.close())
  let started: () => void = () => {}
  const checkRuns = new Promise<void>((resolve) => { started = resolve })
  app.register(cloudSecrets, {
    provider: 'local',
    signal: ac.signal,
    checks: { custom: { 'slow boot': async () => { started(); await new Promise(() => {}) } } }
  })
  const ready = app.ready().then(() => undefined, (e: unknown) => e)
  await checkRuns
  ac.abort(new Error('SIGTERM'))
  const err = await ready as CloudSecretsError
  t.ok(err instanceof CloudSecretsError)
  t.equal(err.code, 'FST_CLOUD_SECRETS_ABORTED')
  t.same(err.pending, ['check "slow boot"'])
  t.match(err.message, /aborted by options\.signal: SIGTERM; still pending: check "slow boot"/)
  t.notOk(app.hasDecorator('secrets'), 'nothing was decorated')
})

test('options.signal already aborted: ABORTED before any step runs; a non-signal is a CONFIG problem', async (t) => {
  let ran = false
  const app = Fastify()
  t.teardown(() => app.close())
  app.register(cloudSecrets, { provider: 'local', signal: AbortSignal.abort(), checks: { custom: [() => { ran = true }] } })
  const err = await app.ready().then(() => undefined, (e: unknown) => e) as CloudSecretsError
  t.equal(err.code, 'FST_CLOUD_SECRETS_ABORTED')
  t.equal(ran, false, 'no step ran')
  const bad = Fastify()
  t.teardown(() => bad.close())
  bad.register(cloudSecrets, { provider: 'local', signal: 'SIGTERM' as unknown as AbortSignal })
  const cfg = await bad.ready().then(() => undefined, (e: unknown) => e) as CloudSecretsError
  t.equal(cfg.code, 'FST_CLOUD_SECRETS_CONFIG')
  t.match(cfg.message, /options\.signal.*must be an AbortSignal/)
})

test('registering twice on one instance fails at once with ALREADY_REGISTERED, before any network call', async (t) => {
  const { default: diagnostics } = await import('node:diagnostics_channel')
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(cloudSecrets, { provider: 'local', secrets: {} })
  let sockets = 0
  const onSocket = (): void => { sockets++ }
  diagnostics.subscribe('net.client.socket', onSocket)
  t.teardown(() => { diagnostics.unsubscribe('net.client.socket', onSocket) })
  const err = await app.register(cloudSecrets, { provider: 'aws', secrets: { a: 'x' }, env: { AWS_REGION: 'us-east-1' } }).then(() => undefined, (e: unknown) => e) as CloudSecretsError
  t.ok(err instanceof CloudSecretsError)
  t.equal(err.code, 'FST_CLOUD_SECRETS_ALREADY_REGISTERED')
  t.match(err.message, /already registered on this Fastify instance/)
  t.equal(sockets, 0, 'no connection was opened')
})
