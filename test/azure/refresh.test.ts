import { once } from 'node:events'
import { test } from 'tap'
import { startAzureWorld } from '../fakes/azure/index.js'
import { useEnv } from './env.js'
import { startApp, warmUp } from './app.js'
import { assertNoLeak, randomSecret } from '../helpers/capture.js'
import { kInternal } from '../../src/plugin.js'
import type { RefreshEvents } from '../../src/refresh/refresher.js'

test('Key Vault refresh: one list of properties per cycle, a GET only for what changed; list denied → GET each, said once', async (t) => {
  await warmUp()
  const world = await startAzureWorld()
  t.teardown(world.close)
  const mi = world.systemMi
  const base = { ...world.redirectEnv(), ...world.appService.env(), WEBSITE_SITE_NAME: 'my-app', AZURE_KEYVAULT_URL: 'https://myvault.vault.azure.net', CLOUD_SECRETS_TIMEOUT_MS: '4000' }
  const vault = world.vault
  const v1 = randomSecret('jwt1')
  const db = JSON.stringify({ user: 'app', password: randomSecret('pw') })
  world.keyvault.setSecret(vault, 'jwt-key', v1)
  world.keyvault.setSecret(vault, 'db', db)
  world.keyvault.setSecret(vault, 'other', randomSecret('other'))
  const internal = { [kInternal]: { retry: { baseDelayMs: 5, maxDelayMs: 40 }, refresh: { random: () => 0.9 } } }

  await t.test('rotation end to end with real timers', async (t) => {
    vault.readers.add(mi.oid)
    t.teardown(() => { vault.readers.delete(mi.oid) })
    useEnv(t, { ...base, CLOUD_SECRETS: 'jwtKey=jwt-key,dbUser=db#user,dbPassword=db#password', CLOUD_SECRETS_REFRESH_MS: '1s' })
    const { app, error, logs } = await startApp(t, internal)
    t.error(error)
    const refresh = app.cloud.refresh
    if (refresh === undefined) throw new Error('refresh is on')
    const dbGets = (): number => world.keyvault.countMatching(/^GET \/secrets\/db\//)
    const gets = (): number => world.keyvault.countMatching(/^GET \/secrets\/jwt-key\//) + dbGets()
    const [lists0, gets0] = [world.keyvault.listed, gets()]
    t.same(await refresh.now(), { rotated: [], failed: [] })
    t.equal(world.keyvault.listed - lists0, 1, 'one list page')
    t.equal(gets() - gets0, 0, 'nothing changed: no GET')

    const dbBefore = dbGets()
    const v2 = randomSecret('jwt2')
    const id = world.keyvault.setSecret(vault, 'jwt-key', v2)
    const [event] = await once(refresh as never, 'rotated') as [RefreshEvents['rotated']]
    t.same(event.aliases, ['jwtKey'])
    t.equal(event.versions.jwtKey.to, id)
    t.equal(app.secrets.jwtKey, v2)
    t.equal(refresh.previous('jwtKey'), v1)
    t.equal(dbGets(), dbBefore, 'only the changed secret was read again (db: listed, unchanged, not read)')
    assertNoLeak(t, logs.text() + JSON.stringify(event), [v1, v2, JSON.parse(db).password], 'refresh logs and events')
  })

  await t.test('list denied (per-secret role only): every secret is read each cycle, logged once at info; a deleted secret keeps its value and errors', async (t) => {
    vault.secretReaders.set('jwt-key', new Set([mi.oid]))
    vault.secretReaders.set('db', new Set([mi.oid]))
    useEnv(t, { ...base, CLOUD_SECRETS: 'jwtKey=jwt-key,dbPassword=db#password', CLOUD_SECRETS_REFRESH_MS: '1h' })
    const { app, error, logs } = await startApp(t, internal)
    t.error(error)
    const refresh = app.cloud.refresh
    if (refresh === undefined) throw new Error('refresh is on')
    const before = world.keyvault.countMatching(/^GET \/secrets\/db\//)
    t.same(await refresh.now(), { rotated: [], failed: [] })
    t.same(await refresh.now(), { rotated: [], failed: [] })
    t.equal(world.keyvault.countMatching(/^GET \/secrets\/db\//) - before, 2, 'read each cycle')
    t.equal(logs.records().filter((r) => /listing the secrets of/.test(String(r.msg))).length, 1, 'said once')
    const kept = app.secrets.jwtKey
    const versions = vault.secrets.get('jwt-key')
    vault.secrets.delete('jwt-key')
    const result = await refresh.now()
    t.same(result.failed, ['jwtKey'])
    t.equal(app.secrets.jwtKey, kept)
    t.match(refresh.status().failing, { jwtKey: 'FST_CLOUD_SECRETS_NOT_FOUND' })
    if (versions !== undefined) vault.secrets.set('jwt-key', versions)
  })

  await t.test('faults during refresh keep the last good snapshot and emit error: 429 + Retry-After, 5xx, denied, expired token, hang', async (t) => {
    vault.readers.add(mi.oid)
    t.teardown(() => { vault.readers.delete(mi.oid); world.keyvault.faults.script = undefined; world.keyvault.faults.hang = undefined })
    useEnv(t, { ...base, CLOUD_SECRETS: 'jwtKey=jwt-key,other=other', CLOUD_SECRETS_REFRESH_MS: '1h', CLOUD_SECRETS_TIMEOUT_MS: '1500' })
    const { app, error, logs } = await startApp(t, internal)
    t.error(error)
    const refresh = app.cloud.refresh
    if (refresh === undefined) throw new Error('refresh is on')
    const errors: Array<RefreshEvents['error']> = []
    refresh.on('error', (e) => errors.push(e))
    const snapshot = app.secrets
    const persistent = (status: number, retryAfter?: string): Array<{ status: number, retryAfter?: string }> => Array.from({ length: 200 }, () => ({ status, retryAfter }))
    const expectFail = async (what: string, code: RegExp): Promise<void> => {
      const before = errors.length
      const result = await refresh.now()
      t.ok(result.failed.length > 0, `${what}: the cycle failed (${result.failed.join()})`)
      t.equal(errors.length, before + 1, `${what}: one error event`)
      const codes = Object.values(errors.at(-1)?.errors ?? {}).map((e) => e.code)
      t.ok(codes.length > 0 && codes.every((c) => code.test(c)), `${what}: ${codes.join()}`)
      t.equal(app.secrets, snapshot, `${what}: the last good snapshot stays`)
    }
    world.keyvault.faults.script = persistent(429, '0')
    await expectFail('429 with Retry-After', /THROTTLED/)
    world.keyvault.faults.script = persistent(503)
    await expectFail('5xx', /UNAVAILABLE/)
    world.keyvault.faults.script = persistent(401)
    await expectFail('token refused (expired)', /TOKEN|ACCESS_DENIED/)
    world.keyvault.faults.script = undefined
    vault.readers.delete(mi.oid)
    await expectFail('denied', /ACCESS_DENIED/)
    vault.readers.add(mi.oid)
    world.keyvault.faults.hang = true
    await expectFail('hang (the cycle deadline)', /TIMEOUT/)
    world.keyvault.faults.hang = undefined
    const recovered = once(refresh as never, 'recovered')
    t.same(await refresh.now(), { rotated: [], failed: [] }, 'works again')
    t.ok((await recovered)[0] !== undefined, 'recovered event')
    assertNoLeak(t, logs.text() + JSON.stringify(errors), [v1, String(app.secrets.jwtKey), String(app.secrets.other)], 'refresh logs and error events')
  })
})

test('the least-privilege grant adds list only when refresh is on', async (t) => {
  const { grantDocuments } = await import('../../src/providers/azure/grant.js')
  const refs = [{ alias: 'a', provider: 'azure' as const, id: 'a', optional: false, raw: 'a' }]
  const identity = { provider: 'azure' as const, platform: 'vm', source: 'azure:managed-identity', principal: '00000000-0000-0000-0000-000000000001' }
  const off = grantDocuments(refs, identity, 'https://myvault.vault.azure.net').map((d) => d.text).join('\n')
  const on = grantDocuments(refs, identity, 'https://myvault.vault.azure.net', true).map((d) => d.text).join('\n')
  t.match(off, /--secret-permissions get$/m)
  t.notMatch(off, /Key Vault Reader|get list/)
  t.match(on, /--secret-permissions get list$/m)
  t.match(on, /--role "Key Vault Reader"/)
})
