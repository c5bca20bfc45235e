import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createRequire } from 'node:module'
import { test } from 'tap'
import { distChildEnv, spawnNode } from '../helpers/child-env.js'

const dist = pathToFileURL(resolve('dist/index.js')).href
const fastify = pathToFileURL(createRequire(import.meta.url).resolve('fastify')).href

/** Runs an app in its own process; resolves with its exit code and output once it exits by itself. */
async function run (body: string): Promise<{ code: number | null, out: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'fcs-exit-'))
  const file = join(dir, 'app.mjs')
  writeFileSync(file, `import Fastify from '${fastify}'\nimport cloudSecrets from '${dist}'\n${body}\n`)
  const child = spawnNode([file], { cwd: process.cwd(), env: distChildEnv({ CLOUD_SECRETS_REFRESH_MS: '' }), stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr.on('data', (d: Buffer) => { out += d.toString() })
  return await new Promise((resolve) => child.on('exit', (code) => { resolve({ code, out }) }))
}

const app = `const app = Fastify()
await app.register(cloudSecrets, { provider: 'local', local: { values: { a: 'value-aaaa' } }, secrets: { a: 'a' }, refresh: 1000, env: {} })
await app.ready()
console.log('ready', typeof app.cloud.refresh.now)`

test('with refresh on, the process exits after close(), and even without it (every timer is unref\'d)', async (t) => {
  const [closed, open] = await Promise.all([
    run(`${app}\nawait app.close()\nconsole.log('closed')`),
    run(app)
  ])
  t.equal(closed.code, 0, closed.out)
  t.match(closed.out, /ready function\nclosed/)
  t.equal(open.code, 0, open.out)
  t.match(open.out, /ready function/)
})

test('a cycle in flight when close() is called does not hold the process', async (t) => {
  const result = await run(`${app}
const pending = app.cloud.refresh.now()
await app.close()
console.log('closed', JSON.stringify(await pending))`)
  t.equal(result.code, 0, result.out)
  t.match(result.out, /closed \{"rotated":\[\],"failed":\[\]\}/)
})
