import diagnosticsChannel from 'node:diagnostics_channel'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import Fastify, { type FastifyInstance } from 'fastify'
import { test, type Test } from 'tap'
import cloudSecrets, { type CloudSecretsOptions } from '../../src/index.js'
import { kInternal } from '../../src/plugin.js'
import { CloudSecretsError } from '../../src/errors.js'
import { SecretsRefresher, type RefreshEvents } from '../../src/refresh/refresher.js'
import { seededRandom } from '../../src/refresh/schedule.js'
import type { Provider, SecretOutcome } from '../../src/providers/types.js'
import type { SecretReference } from '../../src/reference.js'
import { DEFAULT_RETRY } from '../../src/retry.js'
import { assertNoLeak, captureLogs, randomSecret } from '../helpers/capture.js'
import { ManualClock } from '../helpers/manual-clock.js'

function valuesFile (t: Test, values: Record<string, string>): { file: string, write: (v: Record<string, string>) => void, remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'fcs-refresh-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const file = join(dir, 'values.json')
  const write = (v: Record<string, string>): void => { writeFileSync(file, JSON.stringify(v)) }
  write(values)
  return { file, write, remove: () => { rmSync(file, { force: true }) } }
}

async function start (t: Test, options: CloudSecretsOptions, clock: ManualClock): Promise<{ app: FastifyInstance, logs: ReturnType<typeof captureLogs> }> {
  const logs = captureLogs('debug')
  const app = Fastify({ logger: logs.logger })
  t.teardown(async () => { await app.close() })
  await app.register(cloudSecrets, { provider: 'local', env: {}, ...options, [kInternal]: { refresh: { clock, random: seededRandom(7) } } } as CloudSecretsOptions)
  return { app, logs }
}

function collect (app: FastifyInstance): { [E in keyof RefreshEvents]: Array<RefreshEvents[E]> } {
  const events = { rotated: [], error: [], stale: [], recovered: [] } as { [E in keyof RefreshEvents]: Array<RefreshEvents[E]> }
  for (const name of Object.keys(events) as Array<keyof RefreshEvents>) app.cloud.refresh?.on(name, (p) => { (events[name] as unknown[]).push(p) })
  return events
}

test('a rotation: one event naming exactly the changed aliases, a new snapshot, previous(), request.secrets kept', async (t) => {
  const clock = new ManualClock()
  const v1 = { jwt: randomSecret('jwt1'), db: JSON.stringify({ user: 'app', password: randomSecret('pw1') }), api: randomSecret('api1'), pinned: randomSecret('pin') }
  const store = valuesFile(t, v1)
  const { app, logs } = await start(t, {
    local: { file: store.file },
    refresh: { intervalMs: 60_000 },
    secrets: { jwtKey: 'jwt', dbUser: 'db#user', dbPassword: 'db#password', apiKey: 'api', frozen: 'pinned?refresh=off' }
  }, clock)
  const channel: unknown[] = []
  const onChannel = (m: unknown): void => { channel.push(m) }
  diagnosticsChannel.subscribe('fastify-cloud-secrets:rotated', onChannel)
  t.teardown(() => { diagnosticsChannel.unsubscribe('fastify-cloud-secrets:rotated', onChannel) })
  let release: () => void = () => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  app.get('/hold', async (request) => {
    const before = request.secrets.jwtKey
    await held
    return { same: before === request.secrets.jwtKey, sameAsApp: request.secrets.jwtKey === app.secrets.jwtKey }
  })
  const events = collect(app)
  t.equal(clock.pending, 0, 'the schedule starts on ready, not at register')
  await app.ready()
  t.equal(clock.pending, 1)
  t.ok(clock.delays[0] > 0 && clock.delays[0] <= 60_000, 'first cycle at a random point in (0, interval]')
  const first = app.secrets
  t.equal(app.cloud.refresh?.status().generation, 1)

  // nothing changed: no event, same snapshot object
  clock.fire()
  await clock.armed()
  t.equal(events.rotated.length, 0)
  t.equal(app.secrets, first, 'an unchanged cycle keeps the same snapshot')

  const inFlight = app.inject('/hold')
  await new Promise((resolve) => setImmediate(resolve))
  const v2 = { ...v1, jwt: randomSecret('jwt2'), db: JSON.stringify({ user: 'app', password: randomSecret('pw2') }), pinned: randomSecret('pin2') }
  store.write(v2)
  clock.fire()
  await clock.armed()
  t.equal(events.rotated.length, 1, 'one rotated event')
  t.same(events.rotated[0].aliases.sort(), ['dbPassword', 'jwtKey'], 'exactly the changed aliases (dbUser did not change, frozen is never polled)')
  t.equal(events.rotated[0].generation, 2)
  t.equal(app.secrets.jwtKey, v2.jwt)
  t.equal(app.secrets.dbPassword, JSON.parse(v2.db).password)
  t.equal(app.secrets.frozen, v1.pinned, '?refresh=off keeps its startup value')
  t.equal(app.cloud.refresh?.previous('jwtKey'), v1.jwt)
  t.equal(app.cloud.refresh?.previous('apiKey'), undefined, 'never rotated')
  t.ok(Object.isFrozen(app.secrets))
  t.equal(JSON.stringify(app.secrets), JSON.stringify({ jwtKey: '[redacted]', dbUser: '[redacted]', dbPassword: '[redacted]', apiKey: '[redacted]', frozen: '[redacted]' }))
  release()
  const held1 = (await inFlight).json()
  t.same(held1, { same: true, sameAsApp: false }, 'a request keeps the snapshot it started with')
  t.equal(channel.length, 1, 'diagnostics_channel got the same event')
  t.same(channel[0], events.rotated[0])
  const rotationLog = logs.records().find((r) => r.msg?.toString().startsWith('secrets rotated'))
  t.match(rotationLog, { level: 30, generation: 2, aliases: ['jwtKey', 'dbPassword'] })
  const doubled = logs.text().split('\n').filter((line) => (line.match(/"(provider|plugin)":/g) ?? []).length > (line.match(/"plugin":/g) ?? []).length + 1)
  t.same(doubled, [], 'no log line carries the provider key twice (child binding and field)')
  t.ok(logs.records().some((r) => r.msg === 'secret loaded' && r.provider === 'local'), 'a refresh read is logged with its provider')
  const leaks = [v1.jwt, v2.jwt, JSON.parse(v1.db).password, JSON.parse(v2.db).password, v1.api, v1.pinned, v2.pinned]
  assertNoLeak(t, logs.text() + JSON.stringify(events) + inspect(events, { depth: 8 }) + inspect(app.cloud, { depth: 8 }) + JSON.stringify(app.cloud.refresh) + inspect(app.cloud.refresh) + JSON.stringify(channel), leaks, 'logs, events, status and inspect output')
  t.match(app.cloud.refresh?.status(), { generation: 2, stale: [], failing: {} })
})

test('failures keep the last good values, warn once per change of state, go stale, recover', async (t) => {
  const clock = new ManualClock()
  const value = randomSecret('v1')
  const store = valuesFile(t, { a: value, b: randomSecret('b') })
  const { app, logs } = await start(t, { local: { file: store.file }, refresh: { intervalMs: 10_000, staleAfterMs: 25_000 }, secrets: { a: 'a', b: 'b' } }, clock)
  const events = collect(app)
  await app.ready()
  store.write({ b: randomSecret('b2') })
  for (let i = 0; i < 3; i++) { clock.fire(); await clock.armed() }
  t.equal(app.secrets.a, value, 'the last good value stays')
  t.equal(events.error.length, 3, 'an error event per failing cycle')
  t.same(events.error[0].aliases, ['a'])
  t.equal(events.error[0].errors.a.code, 'FST_CLOUD_SECRETS_NOT_FOUND')
  const warns = logs.records().filter((r) => r.level === 40 && /refresh failed/.test(String(r.msg)))
  t.equal(warns.length, 1, 'warned once, not every cycle')
  t.match(app.cloud.refresh?.status(), { failing: { a: 'FST_CLOUD_SECRETS_NOT_FOUND' } })
  t.same(events.stale.map((e) => e.aliases), [['a']], 'stale once, after staleAfterMs')
  t.same(app.cloud.refresh?.status().stale, ['a'])
  store.write({ a: value, b: randomSecret('b3') })
  clock.fire()
  await clock.armed()
  t.same(events.recovered.map((e) => e.aliases), [['a']])
  t.match(app.cloud.refresh?.status(), { failing: {}, stale: [] })
  t.equal(app.secrets.a, value)
})

test('an optional secret that stays absent is warned about once (at startup), not every cycle; again when it goes after being there', async (t) => {
  const clock = new ManualClock()
  const store = valuesFile(t, { a: randomSecret('a') })
  const { app, logs } = await start(t, { local: { file: store.file }, refresh: { intervalMs: 10_000 }, secrets: { a: 'a', sentry: 'sentry?optional' } }, clock)
  await app.ready()
  const absentWarns = (): number => logs.records().filter((r) => r.level === 40 && r.alias === 'sentry' && /optional secret is absent/.test(String(r.msg))).length
  t.equal(absentWarns(), 1, 'the startup warn')
  for (let i = 0; i < 3; i++) { clock.fire(); await clock.armed() }
  t.equal(absentWarns(), 1, 'three cycles later: still one warn')
  const dsn = randomSecret('dsn')
  store.write({ a: randomSecret('a2'), sentry: dsn })
  clock.fire()
  await clock.armed()
  t.equal(app.secrets.sentry, dsn, 'it appeared')
  store.write({ a: randomSecret('a3') })
  clock.fire()
  await clock.armed()
  t.equal(app.secrets.sentry, undefined, 'it went')
  t.equal(absentWarns(), 2, 'a change of state: warned again')
  assertNoLeak(t, logs.text(), [dsn], 'logs')
})

test('an error event with no listener, or a listener that throws, never throws into the app', async (t) => {
  const clock = new ManualClock()
  const store = valuesFile(t, { a: 'x'.repeat(12) })
  const { app, logs } = await start(t, { local: { file: store.file }, refresh: 10_000, secrets: { a: 'a' } }, clock)
  await app.ready()
  store.remove()
  clock.fire()
  await clock.armed()
  app.cloud.refresh?.on('error', () => { throw new Error('listener bug') })
  clock.fire()
  await clock.armed()
  t.ok(logs.records().some((r) => /listener threw/.test(String(r.msg))))
  t.equal(app.secrets.a, 'x'.repeat(12))
})

test('refresh off: no app.cloud.refresh, no timer, request.secrets is app.secrets', async (t) => {
  const clock = new ManualClock()
  const { app } = await start(t, { local: { values: { a: 'value-aaaa' } }, secrets: { a: 'a' } }, clock)
  app.get('/', async (request) => ({ same: request.secrets === app.secrets }))
  await app.ready()
  t.equal(app.cloud.refresh, undefined)
  t.equal(clock.pending, 0)
  t.same((await app.inject('/')).json(), { same: true })
})

/** A provider whose reads the test controls (counted, held open, versioned). */
function fakeProvider (): Provider & { reads: number, hold?: Promise<void>, value: string, version: string } {
  const p = {
    name: 'local' as const,
    reads: 0,
    hold: undefined as Promise<void> | undefined,
    value: 'value-one-1234',
    version: 'v1',
    resolveIdentity: async () => ({ provider: 'local' as const, platform: 'local', source: 'local' }),
    loadSecrets: async (refs: readonly SecretReference[]) => {
      p.reads++
      if (p.hold !== undefined) await p.hold
      return new Map<string, SecretOutcome>(refs.map((r) => [r.alias, { ok: true, value: p.value, version: p.version, store: 'fake', ms: 0 }]))
    },
    clients: () => ({}),
    close: async () => {}
  }
  return p
}

function refresher (provider: Provider, clock: ManualClock, timeoutMs = 5000): SecretsRefresher {
  const refs: SecretReference[] = [{ alias: 'a', provider: 'local', id: 'a', optional: false, raw: 'a' }, { alias: 'pinned', provider: 'local', id: 'p', version: '3', optional: false, raw: 'p?version=3' }]
  const r = new SecretsRefresher({ config: { intervalMs: 10_000, jitter: 0.1, staleAfterMs: 30_000, source: 'test' }, timeoutMs, references: refs, providers: new Map([['local', provider]]), log: Fastify().log, retry: DEFAULT_RETRY, concurrency: 4, clock, random: seededRandom(3) })
  r.seed(new Map([['a', 'value-one-1234'], ['pinned', 'pinned-value']]), new Map([['a', 'v1']]), { local: { provider: 'local', platform: 'local', source: 'local' } })
  return r
}

test('now() is coalesced with the cycle in flight; version-pinned references are never read', async (t) => {
  const clock = new ManualClock()
  const provider = fakeProvider()
  const r = refresher(provider, clock)
  let release: () => void = () => {}
  provider.hold = new Promise((resolve) => { release = resolve })
  provider.value = 'value-two-5678'
  provider.version = 'v2'
  const rotated: Array<RefreshEvents['rotated']> = []
  r.api.on('rotated', (e) => rotated.push(e))
  const calls = [r.api.now(), r.api.now(['a']), r.api.now()]
  release()
  const results = await Promise.all(calls)
  t.equal(provider.reads, 1, 'three now() calls, one read')
  t.same(results, [{ rotated: ['a'], failed: [] }, { rotated: ['a'], failed: [] }, { rotated: ['a'], failed: [] }])
  t.same(rotated, [{ generation: 2, aliases: ['a'], versions: { a: { from: 'v1', to: 'v2' } } }])
  t.same(r.polledReferences.map((x) => x.alias), ['a'], 'the version= reference is not polled')
  await r.close(100)
})

test('close() stops the schedule and aborts a cycle in flight at once', async (t) => {
  const clock = new ManualClock()
  const provider = fakeProvider()
  provider.hold = new Promise(() => {}) // never answers
  const r = refresher(provider, clock, 60_000)
  r.start()
  t.equal(clock.pending, 1)
  clock.fire()
  const errors: unknown[] = []
  r.api.on('error', (e) => errors.push(e))
  await new Promise((resolve) => setImmediate(resolve))
  const started = Date.now()
  await r.close(5000)
  t.ok(Date.now() - started < 2000, 'close did not wait for the hung read (nor its 60 s deadline)')
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(clock.pending, 0, 'no timer left')
  t.same(errors, [], 'nothing is reported after close')
  t.same(await r.api.now(), { rotated: [], failed: [] }, 'now() after close does nothing')
})

test('a cycle that outlives its own deadline fails with TIMEOUT and keeps the values', async (t) => {
  const clock = new ManualClock()
  const provider = fakeProvider()
  provider.hold = new Promise(() => {})
  const r = refresher(provider, clock, 50)
  // the cycle's deadline is unref'd (it never keeps a process alive): keep this one alive meanwhile
  const keepAlive = setTimeout(() => {}, 10_000)
  const result = await r.cycle()
  clearTimeout(keepAlive)
  t.same(result.failed, ['a'])
  t.equal(result.backoff, true, 'a timeout backs off')
  t.equal(r.snapshot.a, 'value-one-1234')
  t.match(r.status().failing, { a: 'FST_CLOUD_SECRETS_TIMEOUT' })
  t.ok(new CloudSecretsError('TIMEOUT', 'x') instanceof CloudSecretsError)
  await r.close(100)
})
