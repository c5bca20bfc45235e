import { test } from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomSecret } from '../helpers/capture.js'
import { distChildEnv, spawnNodeSync } from '../helpers/child-env.js'

const root = fileURLToPath(new URL('../..', import.meta.url))

// A consumer app that installs the packed package (extracted, no registry access: the
// hermetic rule) and configures it with env vars only.
test('the packed package works for a consumer app configured by env vars only', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fcs-consumer-'))
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const packed = JSON.parse(execFileSync(npm, ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as Array<{ filename: string, files: Array<{ path: string }> }>
  const files = packed[0].files.map((f) => f.path)
  for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/testing.js', 'dist/testing.d.ts', 'dist/providers/local/index.js', 'README.md', 'package.json']) t.ok(files.includes(f), `the package ships ${f}`)
  t.notOk(files.some((f) => f.startsWith('test/') || f.startsWith('src/') || f.endsWith('.pem') || f.endsWith('.key')), 'no tests, sources or keys in the package')

  const modules = join(dir, 'app', 'node_modules')
  mkdirSync(join(modules, 'fastify-cloud-secrets'), { recursive: true })
  execFileSync('tar', ['-xzf', join(dir, packed[0].filename), '-C', join(modules, 'fastify-cloud-secrets'), '--strip-components=1'])
  for (const dep of ['fastify', 'fastify-plugin']) symlinkSync(join(root, 'node_modules', dep), join(modules, dep))
  t.ok(existsSync(join(modules, 'fastify-cloud-secrets', 'dist', 'index.js')))

  const value = randomSecret()
  writeFileSync(join(dir, 'values.json'), JSON.stringify({ 'api-key': value }))
  writeFileSync(join(dir, 'app', 'server.mjs'), `
import Fastify from 'fastify'
import cloudSecrets from 'fastify-cloud-secrets'
import { cloudSecretsTesting } from 'fastify-cloud-secrets/testing'
const app = Fastify()
try {
  await app.register(cloudSecrets)
  await app.ready()
  console.log(JSON.stringify({ ok: true, match: app.secrets.apiKey === process.env.EXPECTED, identity: app.cloud.identity, testing: typeof cloudSecretsTesting }))
} catch (err) {
  console.log(JSON.stringify({ ok: false, code: err.code, problems: err.problems?.length, message: err.message }))
}
`)
  const run = (env: Record<string, string>): { ok: boolean, [k: string]: unknown } => {
    const r = spawnNodeSync(['server.mjs'], { cwd: join(dir, 'app'), env: distChildEnv(env), encoding: 'utf8' })
    t.equal(r.status, 0, 'the process exits by itself')
    return JSON.parse(r.stdout.trim())
  }
  const good = run({ CLOUD_SECRETS_PROVIDER: 'local', CLOUD_SECRETS_LOCAL_FILE: join(dir, 'values.json'), CLOUD_SECRETS: 'apiKey=api-key', EXPECTED: value })
  t.same(good, { ok: true, match: true, identity: { provider: 'local', platform: 'local', source: 'local' }, testing: 'function' })

  const bad = run({ CLOUD_SECRETS_PROVIDER: 'aws', CLOUD_SECRETS: 'a=foo://x, b=na me, =c, d=arn:aws:secretsmanager:x' })
  t.equal(bad.ok, false)
  t.equal(bad.code, 'FST_CLOUD_SECRETS_CONFIG')
  t.equal(bad.problems, 4, 'every problem listed')
  t.match(String(bad.message), /alias "a", position 3: unknown scheme/)
  t.notOk(String(bad.message).includes(value))
  t.same((globalThis as { __loopbackViolations?: string[] }).__loopbackViolations, [], 'no connection left loopback (the child runs under the same guard)')
})
