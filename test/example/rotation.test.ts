import { test } from 'tap'
import { once } from 'node:events'
import { createHmac } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { rename, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { RefreshEvents } from '../../src/refresh/refresher.js'
import { assertNoLeak, captureLogs, randomSecret } from '../helpers/capture.js'

interface ExampleModule {
  buildApp: (o: object) => Promise<FastifyInstance>
  exampleEnv: (e: object) => Record<string, string>
  keyId: (key: string) => string
}

const b64 = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url')
const header = (token: string): { kid?: string } => JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8')) as { kid?: string }

/** an HS256 token signed with `key`, as another issuer (or an attacker with a guessed key) would make */
function foreignToken (key: string, kid: string): string {
  const body = `${b64({ alg: 'HS256', typ: 'JWT', kid })}.${b64({ sub: 'mallory', exp: Math.floor(Date.now() / 1000) + 600 })}`
  return `${body}.${createHmac('sha256', key).update(body).digest('base64url')}`
}

test('example app rotates its JWT key without a restart: new kid, old tokens verify through previous(), unknown keys refused', async (t) => {
  // @ts-expect-error the example app is plain JS
  const { buildApp, exampleEnv, keyId } = await import('../../example-app/app.js') as ExampleModule
  const dir = mkdtempSync(join(tmpdir(), 'fcs-example-rotation-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'secrets.local.json')
  const oldKey = randomSecret('jwt-old')
  const newKey = randomSecret('jwt-new')
  const unknownKey = randomSecret('jwt-unknown')
  const paymentsToken = randomSecret('payments')
  const writeValues = async (key: string): Promise<void> => {
    // write then rename: a cycle never reads a half-written file
    await writeFile(`${file}.tmp`, JSON.stringify({ 'jwt-signing-key': key, 'payments-api': { token: paymentsToken } }))
    await rename(`${file}.tmp`, file)
  }
  await writeValues(oldKey)

  const logs = captureLogs('debug')
  const app = await buildApp({ logger: logs.logger, env: exampleEnv({ CLOUD_SECRETS_LOCAL_FILE: file, CLOUD_SECRETS_REFRESH_MS: '1s' }) })
  t.teardown(() => app.close())
  await app.ready()
  const refresh = app.cloud.refresh
  if (refresh === undefined) throw new Error('refresh is off')

  const sign = async (sub: string): Promise<string> => {
    const res = await app.inject({ method: 'POST', url: '/token', payload: { sub } })
    t.equal(res.statusCode, 200)
    return res.json().token as string
  }
  const me = async (token: string): Promise<{ statusCode: number, body: string }> => app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })

  const oldToken = await sign('ada')
  t.equal(header(oldToken).kid, keyId(oldKey), 'tokens carry the kid of the key that signed them')
  t.equal((await me(oldToken)).statusCode, 200)
  t.equal(refresh.previous('jwtKey'), undefined, 'no previous key before a rotation')

  // the refresh timers are unref'd: something must hold the event loop open while the test waits
  const keepAlive = setInterval(() => {}, 60_000)
  t.teardown(() => clearInterval(keepAlive))
  const rotated = once(refresh as never, 'rotated')
  await writeValues(newKey)
  const [event] = await rotated as [RefreshEvents['rotated']]
  t.same(event.aliases, ['jwtKey'], 'one rotation naming exactly the changed alias')
  t.equal(app.secrets.jwtKey, newKey, 'the new snapshot is live')

  const newToken = await sign('grace')
  t.equal(header(newToken).kid, keyId(newKey), 'new tokens carry the new kid')
  const newMe = await me(newToken)
  t.equal(newMe.statusCode, 200)
  t.same(JSON.parse(newMe.body), { sub: 'grace' })

  const oldMe = await me(oldToken)
  t.equal(oldMe.statusCode, 200, 'a token signed with the previous key still verifies')
  t.same(JSON.parse(oldMe.body), { sub: 'ada' })

  for (const [what, token] of [
    ['an unknown kid', foreignToken(unknownKey, keyId(unknownKey))],
    ['the current kid', foreignToken(unknownKey, keyId(newKey))],
    ['the previous kid', foreignToken(unknownKey, keyId(oldKey))],
    ['no kid', foreignToken(unknownKey, '')]
  ] as const) {
    const res = await me(token)
    t.equal(res.statusCode, 401, `a token signed with an unknown key and ${what} is refused`)
  }

  assertNoLeak(t, logs.text() + JSON.stringify(event) + JSON.stringify(refresh.status()), [oldKey, newKey, unknownKey, paymentsToken], 'logs, rotated event and status')
})

test('the README shows the example app\'s rotation code as it is (every #region readme-* of example-app/app.js)', async (t) => {
  const app = readFileSync(new URL('../../example-app/app.js', import.meta.url), 'utf8')
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const regions = [...app.matchAll(/^[ \t]*\/\/ #region (readme-[\w-]+).*\n([\s\S]*?)^[ \t]*\/\/ #endregion/gm)]
  t.same(regions.map((m) => m[1]), ['readme-jwt', 'readme-keyid'])
  for (const [, name, body] of regions) {
    const lines = body.replace(/\n$/, '').split('\n')
    const indent = Math.min(...lines.filter((l) => l.trim() !== '').map((l) => l.length - l.trimStart().length))
    const dedented = lines.map((l) => l.slice(indent)).join('\n')
    t.ok(readme.includes(dedented), `README "Consumers that copy a secret at register time" has ${name} verbatim`)
  }
})
