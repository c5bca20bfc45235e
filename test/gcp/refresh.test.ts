import { once } from 'node:events'
import Fastify, { type FastifyInstance } from 'fastify'
import { test, type Test } from 'tap'
import cloudSecrets, { type CloudSecretsOptions } from '../../src/index.js'
import { kInternal } from '../../src/plugin.js'
import type { RefreshEvents } from '../../src/refresh/refresher.js'
import { writeServiceAccountKey } from '../fakes/gcp/index.js'
import { assertNoLeak, captureLogs, randomSecret } from '../helpers/capture.js'
import { SA_EMAIL, startFakes, withEnv } from './helpers.js'

async function start (t: Test, options: CloudSecretsOptions): Promise<{ app: FastifyInstance, logs: ReturnType<typeof captureLogs> }> {
  const logs = captureLogs('debug')
  const app = Fastify({ logger: logs.logger, pluginTimeout: 20_000 })
  t.teardown(async () => { await app.close() })
  await app.register(cloudSecrets, { provider: 'gcp', timeoutMs: 5000, ...options, [kInternal]: { retry: { baseDelayMs: 5, maxDelayMs: 40 }, refresh: { random: () => 0.9 } } } as CloudSecretsOptions)
  await app.ready()
  return { app, logs }
}

test('rotation end to end: a new version → one rotated event with the resolved version names; faults (quota, unavailable, denied, deleted, expired credentials, hang) keep the last good snapshot', async (t) => {
  const fakes = await startFakes(t)
  const { world } = fakes
  const v1 = randomSecret('jwt1')
  const db = JSON.stringify({ user: 'app', password: randomSecret('pw1') })
  world.addSecret('projects/demo-project/secrets/jwt', [v1])
  world.addSecret('projects/demo-project/secrets/db', [db])
  world.addSecret('projects/demo-project/secrets/old', ['pinned-value-1', 'pinned-value-2'])
  world.allowAccess(SA_EMAIL, '*')
  const key = writeServiceAccountKey(world, SA_EMAIL)
  withEnv(t, { GOOGLE_APPLICATION_CREDENTIALS: key.file })
  // the 2 s deadline below is the refresh cycle's (the hang case waits for it): one boot first
  // imports the SDK and warms gRPC outside it, so a busy machine cannot make the boot miss it
  await (await start(t, { secrets: { jwtKey: 'jwt' } })).app.close()
  const { app, logs } = await start(t, { refresh: 1000, timeoutMs: 2000, secrets: { jwtKey: 'jwt', dbUser: 'db#user', dbPassword: 'db#password', pinned: 'old?version=1' } })
  const refresh = app.cloud.refresh
  if (refresh === undefined) throw new Error('refresh is on')
  const accesses = (): number => [...world.counters.access.values()].reduce((a, b) => a + b, 0)
  const before = accesses()
  t.same(await refresh.now(), { rotated: [], failed: [] })
  t.equal(accesses() - before, 2, 'one AccessSecretVersion per distinct secret (the pinned version is never polled)')

  const v2 = randomSecret('jwt2')
  world.secrets.get('projects/demo-project/secrets/jwt')?.versions.push({ version: 2, data: Buffer.from(v2), state: 'ENABLED' })
  const [event] = await once(refresh as never, 'rotated') as [RefreshEvents['rotated']]
  t.same(event.aliases, ['jwtKey'])
  t.same(event.versions.jwtKey, { from: '1', to: '2' }, 'the resolved version of latest is what is compared')
  t.equal(app.secrets.jwtKey, v2)
  t.equal(refresh.previous('jwtKey'), v1)
  t.equal(app.secrets.pinned, 'pinned-value-1')

  const snapshot = app.secrets
  const errors: Array<RefreshEvents['error']> = []
  refresh.on('error', (e) => errors.push(e))
  const faults = world.faults.secretManager
  for (const [what, fault, code] of [
    ['RESOURCE_EXHAUSTED', { always: { code: 8, details: 'Quota exceeded' } }, /THROTTLED/],
    ['UNAVAILABLE', { always: { code: 14, details: 'unavailable' } }, /UNAVAILABLE/],
    ['PERMISSION_DENIED', { always: { code: 7, details: 'Permission denied on resource' } }, /ACCESS_DENIED/],
    ['NOT_FOUND (deleted)', { always: { code: 5, details: 'Secret not found' } }, /NOT_FOUND/],
    ['UNAUTHENTICATED (expired credentials)', { always: { code: 16, details: 'Request had invalid authentication credentials. Expected OAuth 2 access token.' } }, /TOKEN/],
    ['hang (the cycle deadline)', { hang: true }, /TIMEOUT/]
  ] as const) {
    Object.assign(faults, fault)
    const result = await refresh.now()
    t.same(result.failed.sort(), ['dbPassword', 'dbUser', 'jwtKey'], `${what}: every polled alias failed`)
    t.match(errors.at(-1)?.errors.jwtKey?.code, code, `${what} ${errors.length} ${JSON.stringify(errors.at(-1)).slice(0, 300)}`)
    t.equal(app.secrets, snapshot, `${what}: the last good snapshot stays`)
    delete (faults as Record<string, unknown>).always
    delete (faults as Record<string, unknown>).hang
  }
  t.same(await refresh.now(), { rotated: [], failed: [] }, 'recovers')
  assertNoLeak(t, logs.text() + JSON.stringify(errors) + JSON.stringify(event), [v1, v2, JSON.parse(db).password], 'refresh logs and events')
})
