import { inspect, format } from 'node:util'
import Fastify from 'fastify'
import { test, type Test } from 'tap'
import cloudSecrets, { CloudSecretsError } from '../../src/index.js'
import { cloudSecretsTesting } from '../../src/testing.js'
import { assertNoLeak, captureLogs, errorText, randomSecret } from '../helpers/capture.js'

// app.secrets cannot be changed or extended by app code, no path swaps a value after ready,
// and nothing that serializes or logs app.secrets / app.cloud shows a value. (Test files are
// ES modules, so this code runs in strict mode, as the app's own modules do.)

async function startApp (t: Test): Promise<{ app: ReturnType<typeof Fastify>, values: Record<string, string>, logs: ReturnType<typeof captureLogs> }> {
  const values = { jwtKey: randomSecret('jwt'), dbPassword: randomSecret('db') }
  const logs = captureLogs()
  const app = Fastify({ logger: logs.logger })
  await app.register(cloudSecretsTesting, {
    values,
    absent: ['sentry'],
    identity: { provider: 'aws', principal: 'arn:aws:sts::123456789012:assumed-role/app/i-1', details: { roleArn: 'arn:aws:iam::123456789012:role/app' } }
  })
  app.get('/', async (request) => {
    request.log.info({ cloud: request.cloud }, 'request cloud')
    request.log.info(request.cloud)
    return { ok: true, same: request.cloud === app.cloud }
  })
  await app.ready()
  t.teardown(() => app.close())
  return { app, values, logs }
}

test('app.secrets: assignment, new keys, delete, defineProperty, setPrototypeOf, Object.assign all throw and change nothing', async (t) => {
  const { app, values } = await startApp(t)
  const secrets = app.secrets as Record<string, string | undefined>
  const attempts: Array<[string, () => unknown]> = [
    ['assign an alias', () => { secrets.jwtKey = 'swapped' }],
    ['add a key', () => { secrets.extra = 'x' }],
    ['delete an alias', () => { delete secrets.jwtKey }],
    ['defineProperty on an alias', () => Object.defineProperty(secrets, 'jwtKey', { value: 'swapped' })],
    ['defineProperty a new key', () => Object.defineProperty(secrets, 'extra', { value: 'x' })],
    ['setPrototypeOf', () => Object.setPrototypeOf(secrets, { extra: 'x' })],
    ['Object.assign', () => Object.assign(secrets, { jwtKey: 'swapped' })],
    ['replace toJSON', () => { (secrets as Record<string, unknown>).toJSON = () => values }],
    ['replace the shared toJSON on the prototype', () => { (Object.getPrototypeOf(secrets) as Record<string, unknown>).toJSON = () => values }],
    ['replace inspect on the prototype', () => Object.defineProperty(Object.getPrototypeOf(secrets), inspect.custom, { value: () => values })]
  ]
  for (const [what, attempt] of attempts) t.throws(attempt, TypeError, `${what} throws`)
  t.notOk(Reflect.set(secrets, 'jwtKey', 'swapped'), 'Reflect.set reports failure')
  t.notOk(Reflect.deleteProperty(secrets, 'jwtKey'), 'Reflect.deleteProperty reports failure')
  t.ok(Object.isFrozen(secrets) && Object.isFrozen(Object.getPrototypeOf(secrets)))
  t.equal(secrets.jwtKey, values.jwtKey, 'the value is unchanged')
  t.equal(secrets.extra, undefined)
  t.equal(JSON.stringify(secrets), '{"jwtKey":"[redacted]","dbPassword":"[redacted]"}')
  t.same(Object.keys(secrets), ['jwtKey', 'dbPassword', 'sentry'], 'keys = aliases, in configured order')
  t.ok('sentry' in secrets && secrets.sentry === undefined, 'an absent optional secret is an own, undefined alias')
})

test('app.cloud, its identity (down to details) and request.cloud cannot be edited', async (t) => {
  const { app } = await startApp(t)
  const cloud = app.cloud as unknown as Record<string, unknown>
  const identity = app.cloud.identity as unknown as Record<string, unknown>
  t.throws(() => { cloud.identity = {} }, TypeError)
  t.throws(() => { cloud.aws = {} }, TypeError)
  t.throws(() => { identity.principal = 'arn:aws:sts::999999999999:assumed-role/evil/x' }, TypeError)
  t.throws(() => { (identity.details as Record<string, unknown>).roleArn = 'evil' }, TypeError, 'details are frozen too')
  t.throws(() => { (app.cloud.identities as Record<string, unknown>).local = {} }, TypeError)
  t.throws(() => { ((app.cloud.identities.local as unknown as Record<string, unknown>).details as Record<string, unknown>).roleArn = 'evil' }, TypeError)
  t.equal(app.cloud.identity.details?.roleArn, 'arn:aws:iam::123456789012:role/app')
  const res = await app.inject('/')
  t.same(res.json(), { ok: true, same: true }, 'request.cloud is app.cloud')
})

test('decorating again fails, and a second registration cannot replace the first values', async (t) => {
  const { app, values } = await startApp(t)
  t.throws(() => app.decorate('secrets', { jwtKey: 'swapped' }), { code: 'FST_ERR_DEC_ALREADY_PRESENT' })
  t.throws(() => app.decorate('cloud', {}), { code: 'FST_ERR_DEC_ALREADY_PRESENT' })
  t.throws(() => app.decorateRequest('cloud', { getter: () => ({}) }), { code: 'FST_ERR_DEC_ALREADY_PRESENT' })

  const twice = Fastify({ logger: false })
  t.teardown(() => twice.close())
  await twice.register(cloudSecretsTesting, { values })
  twice.register(cloudSecretsTesting, { values: { jwtKey: 'swapped' } })
  await t.rejects(async () => await twice.ready(), { code: 'FST_CLOUD_SECRETS_ALREADY_REGISTERED' }, 'registering the plugin twice in one scope fails at boot (issue 13: with our own code, before any network call; it was FST_ERR_DEC_ALREADY_PRESENT)')
  t.equal(twice.secrets.jwtKey, values.jwtKey, 'the first values stay')
})

test('app code cannot swap app.secrets or app.cloud themselves after ready', async (t) => {
  const { app, values } = await startApp(t)
  t.throws(() => { (app as unknown as Record<string, unknown>).secrets = { jwtKey: 'swapped' } }, TypeError)
  t.throws(() => Object.defineProperty(app, 'secrets', { value: { jwtKey: 'swapped' } }), TypeError)
  t.throws(() => { (app as unknown as Record<string, unknown>).cloud = {} }, TypeError)
  t.equal(app.secrets.jwtKey, values.jwtKey)
})

test('JSON.stringify, util.inspect, util.format and pino never show a value of app.secrets or app.cloud', async (t) => {
  const { app, values, logs } = await startApp(t)
  const needles = Object.values(values)
  const views = [
    JSON.stringify(app.secrets), JSON.stringify({ nested: { secrets: app.secrets } }), JSON.stringify(app.cloud),
    inspect(app.secrets), inspect(app.secrets, { showHidden: true, depth: 10, getters: true }), inspect({ deep: { deeper: app.secrets } }),
    inspect(app.cloud, { showHidden: true, depth: 10 }), String(app.secrets), `${app.secrets as unknown as string}`,
    format('%s %o %O %j', app.secrets, app.secrets, app.secrets, app.secrets), format('%s %o %O %j', app.cloud, app.cloud, app.cloud, app.cloud)
  ]
  app.log.info({ secrets: app.secrets, cloud: app.cloud }, 'nested')
  app.log.warn({ deep: { list: [app.secrets] } }, 'nested deeper')
  app.log.info(app.cloud)
  app.log.info('%s %o %j', app.secrets, app.secrets, app.secrets)
  app.log.child({ secrets: app.secrets }).info('child bindings')
  app.log.error({ err: new Error('with secrets attached'), secrets: app.secrets }, 'error')
  await app.inject('/')
  t.match(views[0], /\[redacted\]/)
  t.match(views[3], /jwtKey: \[redacted\]/)
  assertNoLeak(t, views.join('\n'), needles, 'serialized and inspected views')
  assertNoLeak(t, logs.text(), needles, 'pino lines')
  const nested = logs.records().find((r) => r.msg === 'nested') as { secrets: unknown }
  t.same(nested.secrets, { jwtKey: '[redacted]', dbPassword: '[redacted]' })
})

test('errors of failing startups never carry a value (message, stack, inspect, JSON)', async (t) => {
  const value = randomSecret()
  const cases: Array<Record<string, unknown>> = [
    { secrets: { a: 'local://doc#missing.key' }, local: { values: { doc: JSON.stringify({ other: value }) } } },
    { secrets: { a: 'local://doc#k' }, local: { values: { doc: `${value}` } } },
    { secrets: { a: 'local://doc#k' }, local: { values: { doc: `{"k": ${value}}` } } },
    { secrets: { a: 'local://doc#k.deeper' }, local: { values: { doc: JSON.stringify({ k: value }) } } },
    { secrets: { a: 'local://nope', b: 'local://doc#k' }, local: { values: { doc: `[${value}` } } }
  ]
  for (const options of cases) {
    const logs = captureLogs()
    const app = Fastify({ logger: logs.logger })
    let caught: unknown
    try {
      await app.register(cloudSecrets, { provider: 'local', env: {}, ...options } as never)
      await app.ready()
    } catch (err) {
      caught = err
    }
    await app.close()
    t.ok(caught instanceof CloudSecretsError, 'a coded error')
    app.log.error({ err: caught }, 'startup failed')
    assertNoLeak(t, errorText(caught) + logs.text(), [value, value.slice(4, 16)], `error of ${JSON.stringify(options.secrets)}`)
  }
})
