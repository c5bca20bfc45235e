import { test } from 'tap'
import { fileURLToPath } from 'node:url'
import { readFileSync } from 'node:fs'
import { assertNoLeak, captureLogs } from '../helpers/capture.js'
import { distChildEnv, spawnNode } from '../helpers/child-env.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const dummy = JSON.parse(readFileSync(new URL('../../example-app/secrets.local.json', import.meta.url), 'utf8')) as { 'jwt-signing-key': string, 'payments-api': { token: string } }

test('example app: issues and verifies tokens with the key from app.secrets; /healthz shows identity only', async (t) => {
  // @ts-expect-error the example app is plain JS
  const { buildApp, exampleEnv } = await import('../../example-app/app.js') as { buildApp: (o: object) => Promise<import('fastify').FastifyInstance>, exampleEnv: (e: object) => Record<string, string> }
  const logs = captureLogs('debug')
  const app = await buildApp({ logger: logs.logger, env: exampleEnv({}) })
  t.teardown(() => app.close())

  const issued = await app.inject({ method: 'POST', url: '/token', payload: { sub: 'ada' } })
  t.equal(issued.statusCode, 200)
  const token = issued.json().token as string
  const me = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token}` } })
  t.same(me.json(), { sub: 'ada' })
  const forged = await app.inject({ url: '/me', headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA` } })
  t.equal(forged.statusCode, 401)

  const health = await app.inject('/healthz')
  t.same(health.json(), {
    status: 'ok',
    identity: { provider: 'local', platform: 'local', source: 'local' },
    secrets: ['jwtKey', 'paymentsToken', 'sentryDsn'],
    paymentsConfigured: true
  })
  assertNoLeak(t, logs.text() + health.body, [dummy['jwt-signing-key'], dummy['payments-api'].token])
})

test('npm run example path: server.js serves /healthz and exits 0 on SIGTERM', async (t) => {
  const child = spawnNode(['example-app/server.js'], { cwd: root, env: distChildEnv({ PORT: '0' }), stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const address = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += String(d)
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
      if (m !== null) resolve(m[1])
    })
    child.on('exit', (code) => reject(new Error(`exited early with ${String(code)}: ${out}`)))
  })
  const res = await fetch(`${address}/healthz`)
  t.equal(res.status, 200)
  t.match(await res.json(), { status: 'ok', identity: { provider: 'local' } })
  const exit = new Promise<number | null>((resolve) => child.on('exit', resolve))
  child.kill('SIGTERM')
  t.equal(await exit, 0, 'graceful shutdown')
  assertNoLeak(t, out, [dummy['jwt-signing-key'], dummy['payments-api'].token], 'server output')
})
