import { once } from 'node:events'
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import { test, type Test } from 'tap'
import cloudSecrets, { type CloudSecretsOptions } from '../../src/index.js'
import { kInternal } from '../../src/plugin.js'
import type { RefreshEvents } from '../../src/refresh/refresher.js'
import { startAwsFakes, type AwsFakes } from '../fakes/aws/index.js'
import { assertNoLeak, captureLogs, randomSecret } from '../helpers/capture.js'
import { loopbackViolations, setEnv } from './helpers.js'

const USER = 'arn:aws:iam::123456789012:user/app'
const READ_ALL = ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue']
let fakes: AwsFakes

test('setup', async () => { fakes = await startAwsFakes() })

function as (t: Test, allow: string[]): void {
  const keys = fakes.world.issue(USER, allow, { session: false })
  setEnv(t, { ...fakes.env, AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey })
  for (const k of Object.keys(fakes.sm.counts)) delete fakes.sm.counts[k]
  fakes.sm.faults = {}
}

/** a rotation lambda's last step: a new AWSCURRENT version, the old one AWSPREVIOUS */
function rotate (name: string, value: string): string {
  const secret = fakes.world.secrets.get(name)
  if (secret === undefined) throw new Error(`no secret ${name}`)
  for (const v of secret.versions) v.stages = v.stages.filter((s) => s !== 'AWSPREVIOUS').map((s) => s === 'AWSCURRENT' ? 'AWSPREVIOUS' : s)
  const id = randomUUID()
  secret.versions.push({ id, stages: ['AWSCURRENT'], string: value })
  return id
}

async function start (t: Test, options: CloudSecretsOptions): Promise<{ app: FastifyInstance, logs: ReturnType<typeof captureLogs> }> {
  const logs = captureLogs('debug')
  const app = Fastify({ logger: logs.logger, pluginTimeout: 20_000 })
  t.teardown(async () => { await app.close() })
  await app.register(cloudSecrets, { provider: 'aws', timeoutMs: 5000, ...options, [kInternal]: { retry: { baseDelayMs: 5, maxDelayMs: 40 }, refresh: { random: () => 0.9 } } } as CloudSecretsOptions)
  await app.ready()
  return { app, logs }
}

test('rotation end to end with real timers: one BatchGetSecretValue per cycle compares VersionId; one rotated event; previous()', async (t) => {
  const v1 = { jwt: randomSecret('jwt1'), db: JSON.stringify({ user: 'app', password: randomSecret('pw1') }), api: randomSecret('api1') }
  fakes.world.putSecret('rot/jwt', v1.jwt)
  fakes.world.putSecret('rot/db', v1.db)
  fakes.world.putSecret('rot/api', v1.api)
  as(t, READ_ALL)
  const { app, logs } = await start(t, { refresh: 1000, secrets: { jwtKey: 'rot/jwt', dbUser: 'rot/db#user', dbPassword: 'rot/db#password', apiKey: 'rot/api', pinnedPrev: 'rot/api?stage=AWSPREVIOUS&optional' } })
  const refresh = app.cloud.refresh
  if (refresh === undefined) throw new Error('refresh is on')
  const startupBatches = fakes.sm.count('BatchGetSecretValue')
  const cycle = await refresh.now()
  t.same(cycle, { rotated: [], failed: [] })
  t.equal(fakes.sm.count('BatchGetSecretValue') - startupBatches, 1, 'one batch call for the three unpinned secrets')

  const v2jwt = randomSecret('jwt2')
  const id = rotate('rot/jwt', v2jwt)
  const [event] = await once(refresh as never, 'rotated') as [RefreshEvents['rotated']]
  t.same(event.aliases, ['jwtKey'], 'exactly the rotated alias')
  t.equal(event.versions.jwtKey.to, id, 'version ids, not values')
  t.equal(app.secrets.jwtKey, v2jwt)
  t.equal(refresh.previous('jwtKey'), v1.jwt)
  t.equal(app.secrets.dbPassword, JSON.parse(v1.db).password)
  t.match(refresh.status(), { generation: 2, failing: {}, stale: [] })
  assertNoLeak(t, logs.text() + JSON.stringify(event) + JSON.stringify(refresh.status()), [...fakes.world.sensitive(), v1.jwt, v2jwt], 'refresh logs and events')
  t.same(loopbackViolations(), [])
})

test('faults during refresh keep the last good snapshot and emit error: 429 + Retry-After, 5xx, denied, deleted, expired credentials, hang', async (t) => {
  const value = randomSecret('good')
  fakes.world.putSecret('fault/a', value)
  fakes.world.putSecret('fault/b', randomSecret('b'))
  const keys = fakes.world.issue(USER, READ_ALL, { session: false })
  setEnv(t, { ...fakes.env, AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey })
  fakes.sm.faults = {}
  const { app, logs } = await start(t, { refresh: 60_000, timeoutMs: 1500, secrets: { a: 'fault/a', b: 'fault/b' } })
  const refresh = app.cloud.refresh
  if (refresh === undefined) throw new Error('refresh is on')
  const errors: Array<RefreshEvents['error']> = []
  refresh.on('error', (e) => errors.push(e))
  const snapshot = app.secrets
  const expectFail = async (what: string, code: RegExp): Promise<void> => {
    const before = errors.length
    const result = await refresh.now()
    t.same(result.failed.sort(), ['a', 'b'], `${what}: both aliases failed`)
    t.equal(errors.length, before + 1, `${what}: one error event`)
    t.match(errors.at(-1)?.errors.a.code, code, what)
    t.equal(app.secrets, snapshot, `${what}: the last good snapshot stays`)
  }
  fakes.sm.faults = { throttles: 100, retryAfter: '0' }
  await expectFail('429 with Retry-After', /THROTTLED/)
  fakes.sm.faults = { serverErrors: 100 }
  await expectFail('5xx', /UNAVAILABLE/)
  fakes.sm.faults = {}
  const deny = fakes.world.keys.get(keys.accessKeyId)
  if (deny !== undefined) deny.principal.allow = []
  await expectFail('denied', /ACCESS_DENIED/)
  await expectFail('denied again', /ACCESS_DENIED/)
  if (deny !== undefined) deny.principal.allow = READ_ALL
  fakes.world.expire(keys.accessKeyId)
  await expectFail('expired credentials', /TOKEN|ACCESS_DENIED|NO_CREDENTIALS|REJECTED/)
  const entry = fakes.world.keys.get(keys.accessKeyId)
  if (entry !== undefined) entry.expired = false
  const saved = new Map(fakes.world.secrets)
  fakes.world.secrets.delete('fault/a')
  fakes.world.secrets.delete('fault/b')
  await expectFail('deleted', /NOT_FOUND/)
  for (const [k, v] of saved) fakes.world.secrets.set(k, v)
  fakes.sm.faults = { hang: true }
  await expectFail('hang (the cycle deadline)', /TIMEOUT/)
  fakes.sm.faults = {}
  const recovered = once(refresh as never, 'recovered')
  t.same(await refresh.now(), { rotated: [], failed: [] }, 'works again')
  t.same((await recovered)[0], { generation: 1, aliases: ['a', 'b'] })
  t.equal(app.secrets.a, value)
  const deniedWarns = logs.records().filter((r) => r.level === 40 && /refresh failed/.test(String(r.msg)) && (r.errors as Record<string, { code: string }>)?.a?.code === 'FST_CLOUD_SECRETS_ACCESS_DENIED')
  t.equal(deniedWarns.length, 1, 'denied twice in a row: warned once')
  assertNoLeak(t, logs.text() + JSON.stringify(errors), [...fakes.world.sensitive(), value], 'refresh logs and error events')
  t.same(loopbackViolations(), [])
})

test('teardown', async () => { await fakes.close() })
