import { test } from 'tap'
import { readFileSync, writeFileSync, mkdtempSync, existsSync, mkdirSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createRequire } from 'node:module'
import { startAzureWorld, fakeCli } from '../fakes/azure/index.js'
import { useEnv, pathWith } from './env.js'
import { startApp, warmUp } from './app.js'
import { randomSecret } from '../helpers/capture.js'
import type { CloudSecretsError } from '../../src/index.js'
import { distChildEnv, spawnNode } from '../helpers/child-env.js'

const DEADLINE = 1500
const MARGIN = 1500

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  // a killed orphan may linger as a zombie when PID 1 does not reap: that is dead too
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

test('hung endpoints fail with TIMEOUT inside the deadline, naming what hung', async (t) => {
  await warmUp()
  const world = await startAzureWorld()
  t.teardown(world.close)
  world.keyvault.setSecret(world.vault, 'db-password', randomSecret())
  world.vault.readers.add(world.systemMi.oid)
  const base = { ...world.redirectEnv(), AZURE_KEYVAULT_URL: 'https://myvault.vault.azure.net', CLOUD_SECRETS: 'db=db-password', CLOUD_SECRETS_PROVIDER: 'azure', CLOUD_SECRETS_TIMEOUT_MS: String(DEADLINE) }

  await t.test('App Service identity endpoint accepts and never answers', async (t) => {
    useEnv(t, { ...base, ...world.appService.env() })
    world.appService.faults.hang = true
    t.teardown(() => { world.appService.faults.hang = false })
    const { error, ms } = await startApp(t)
    const err = error as CloudSecretsError
    t.equal(err?.code, 'FST_CLOUD_SECRETS_TIMEOUT')
    t.match(err.pending?.join(), /identity: managed identity \(system-assigned identity\): App Service .* endpoint http:\/\/127\.0\.0\.1:\d+\/msi\/token/)
    t.ok(ms < DEADLINE + MARGIN, `failed after ${ms} ms`)
  })

  await t.test('IMDS never answers', async (t) => {
    useEnv(t, { ...base, AZURE_POD_IDENTITY_AUTHORITY_HOST: world.imds.host })
    world.imds.faults.hang = true
    t.teardown(() => { world.imds.faults.hang = false })
    const { error, ms } = await startApp(t)
    const err = error as CloudSecretsError
    t.equal(err?.code, 'FST_CLOUD_SECRETS_TIMEOUT')
    t.match(err.pending?.join(), /IMDS http:\/\/127\.0\.0\.1/)
    t.ok(ms < DEADLINE + MARGIN)
    t.match(err.attempts ?? [], [])
  })

  await t.test('az hangs: TIMEOUT, and the az process and its children are killed', async (t) => {
    const az = fakeCli('az', { hang: true })
    useEnv(t, { ...base, AZURE_POD_IDENTITY_AUTHORITY_HOST: world.imdsNoIdentity.host, PATH: pathWith(az.dir) })
    const { error, ms } = await startApp(t)
    const err = error as CloudSecretsError
    t.equal(err?.code, 'FST_CLOUD_SECRETS_TIMEOUT')
    t.match(err.pending?.join(), /identity: Azure CLI: az account get-access-token/)
    t.ok(ms < DEADLINE + MARGIN)
    const pids = readFileSync(az.pidFile, 'utf8').trim().split('\n').map(Number)
    t.equal(pids.length, 2, 'the fake az and its sleeping child started')
    await new Promise((resolve) => setTimeout(resolve, 200))
    t.same(pids.filter(alive), [], 'no az process left running')
  })

  await t.test('Key Vault accepts and never answers', async (t) => {
    useEnv(t, { ...base, ...world.appService.env() })
    world.keyvault.faults.hang = true
    t.teardown(() => { world.keyvault.faults.hang = false })
    const { error, ms } = await startApp(t)
    const err = error as CloudSecretsError
    t.equal(err?.code, 'FST_CLOUD_SECRETS_TIMEOUT')
    t.match(err.pending?.join(), /secret "db" \(Key Vault myvault\.vault\.azure\.net\/secrets\/db-password\)/)
    t.ok(ms < DEADLINE + MARGIN)
  })
})

test('a child process with a hung identity endpoint fails with TIMEOUT and exits by itself', async (t) => {
  const dist = resolve('dist/index.js')
  t.ok(existsSync(dist), 'dist is built (npm run build)')
  const world = await startAzureWorld()
  t.teardown(world.close)
  world.appService.faults.hang = true
  world.imds.faults.hang = true
  // inside the repository, so the SDK's bare specifiers resolve to the same modules dist uses
  mkdirSync(resolve('test/.tmp'), { recursive: true })
  const dir = mkdtempSync(join(resolve('test/.tmp'), 'azure-child-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const script = join(dir, 'app.mjs')
  writeFileSync(script, [
    `import Fastify from ${JSON.stringify(createRequire(resolve('package.json')).resolve('fastify'))}`,
    `import cloudSecrets from ${JSON.stringify(dist)}`,
    // loaded before the clock starts, as an app's own imports would be: the deadline is about
    // the network, and a cold import on a busy machine can take longer than the test deadline
    "import '@azure/identity'",
    "import '@azure/keyvault-secrets'",
    "import '@azure/core-rest-pipeline'",
    `import ${JSON.stringify(resolve('dist/providers/azure/index.js'))}`,
    'const app = Fastify()',
    'const started = Date.now()',
    'try {',
    '  await app.register(cloudSecrets)',
    '  await app.ready()',
    '  console.log(JSON.stringify({ ok: true }))',
    '} catch (err) {',
    '  console.log(JSON.stringify({ code: err.code, pending: err.pending, ms: Date.now() - started }))',
    '  await app.close()',
    '}',
    ''
  ].join('\n'))
  for (const [name, extra] of [['App Service endpoint', world.appService.env()], ['IMDS', { AZURE_POD_IDENTITY_AUTHORITY_HOST: world.imds.host }]] as const) {
    const started = Date.now()
    const child = spawnNode([script], {
      cwd: resolve('.'),
      env: distChildEnv(world.redirectEnv(), extra, { CLOUD_SECRETS_PROVIDER: 'azure', AZURE_KEYVAULT_URL: 'https://myvault.vault.azure.net', CLOUD_SECRETS: 'db=db-password', CLOUD_SECRETS_TIMEOUT_MS: String(DEADLINE) }),
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let out = ''
    let errOut = ''
    child.stdout.on('data', (d) => { out += String(d) })
    child.stderr.on('data', (d) => { errOut += String(d) })
    const code = await new Promise<number | null>((resolve) => {
      const killer = setTimeout(() => { child.kill('SIGKILL') }, DEADLINE + 8000)
      child.on('exit', (c) => { clearTimeout(killer); resolve(c) })
    })
    const elapsed = Date.now() - started
    t.equal(errOut, '', `${name}: nothing on stderr`)
    const result = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { code?: string, ms?: number, pending?: string[] }
    t.equal(result.code, 'FST_CLOUD_SECRETS_TIMEOUT', `${name}: coded timeout`)
    t.ok((result.ms ?? Infinity) < DEADLINE + MARGIN, `${name}: failed after ${String(result.ms)} ms`)
    t.equal(code, 0, `${name}: the child exited by itself (after ${elapsed} ms)`)
  }
})

test('nothing connected outside loopback', async (t) => {
  t.same((globalThis as { __loopbackViolations?: string[] }).__loopbackViolations, [])
})
