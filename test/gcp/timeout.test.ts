import { test } from 'tap'
import { fileURLToPath } from 'node:url'
import { writeAuthorizedUser, writeServiceAccountKey } from '../fakes/gcp/index.js'
import { emptyDir, SA_EMAIL, start, startFakes, withEnv } from './helpers.js'
import { distChildEnv, spawnNode } from '../helpers/child-env.js'

const DEADLINE = 1500
const MARGIN = 1500

// the provider and its SDK, before any clock starts: a cold import under tap's compiler on a busy
// machine can take longer than the 1.5 s deadline under test (the deadline is for the endpoints)
await import('../../src/providers/gcp/index.js')
await import('@google-cloud/secret-manager')
await import('google-gax')

test('a silent metadata server on Cloud Run → TIMEOUT within the deadline, naming the metadata steps', async (t) => {
  const fakes = await startFakes(t)
  fakes.world.faults.metadata.hang = true
  withEnv(t, { K_SERVICE: 'api', GCE_METADATA_HOST: fakes.metadata.host })
  const { error, ms } = await start(t, { timeoutMs: DEADLINE, secrets: { db: 'db' } }, { pluginTimeout: DEADLINE + 2000 })
  t.equal((error as { code?: string }).code, 'FST_CLOUD_SECRETS_TIMEOUT')
  t.ok(ms < DEADLINE + MARGIN, `failed after ${Math.round(ms)} ms`)
  t.match(error?.message, `identity: metadata server http://${fakes.metadata.host} (project/project-id)`)
})

test('a silent Secret Manager → TIMEOUT within the deadline, naming the secret', async (t) => {
  const fakes = await startFakes(t)
  const key = writeServiceAccountKey(fakes.world, SA_EMAIL)
  fakes.world.faults.secretManager.hang = true
  withEnv(t, { GOOGLE_APPLICATION_CREDENTIALS: key.file })
  const { error, ms } = await start(t, { provider: 'gcp', timeoutMs: DEADLINE, secrets: { db: 'db' } }, { pluginTimeout: DEADLINE + 2000 })
  t.equal((error as { code?: string }).code, 'FST_CLOUD_SECRETS_TIMEOUT')
  t.ok(ms < DEADLINE + MARGIN, `failed after ${Math.round(ms)} ms`)
  t.match(error?.message, 'secret "db" (AccessSecretVersion projects/demo-project/secrets/db/versions/latest)')
  t.equal(fakes.world.totalAccessCalls(), 1, 'no retry of a call that never answered')
})

test('a silent oauth2 token endpoint (gcloud login refresh) → TIMEOUT naming the refresh', async (t) => {
  const fakes = await startFakes(t)
  const config = emptyDir()
  writeAuthorizedUser(fakes.world, 'dev@example.com', config)
  fakes.world.faults.oauth.hang = true
  withEnv(t, { CLOUDSDK_CONFIG: config, GOOGLE_CLOUD_PROJECT: 'demo-project' })
  const { error, ms } = await start(t, { provider: 'gcp', timeoutMs: DEADLINE }, { pluginTimeout: DEADLINE + 2000 })
  t.equal((error as { code?: string }).code, 'FST_CLOUD_SECRETS_TIMEOUT')
  t.ok(ms < DEADLINE + MARGIN)
  t.match(error?.message, /identity: token refresh at oauth2\.googleapis\.com/)
})

const consumerApp = fileURLToPath(new URL('./fixtures/consumer-app.mjs', import.meta.url))

async function runConsumer (env: Record<string, string>): Promise<{ result: { ok: boolean, code?: string, ms?: number, message?: string }, exitMs: number, exitCode: number | null, stderr: string }> {
  const started = performance.now()
  const child = spawnNode([consumerApp], { env: distChildEnv(env), stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => { stdout += String(d) })
  child.stderr.on('data', (d) => { stderr += String(d) })
  // a safety net only: the assertion is that the child exits by itself long before this
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  const exitCode = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  clearTimeout(killer)
  return { result: JSON.parse(stdout.trim().split('\n').pop() ?? '{}'), exitMs: performance.now() - started, exitCode, stderr }
}

test('child process: hung metadata server / hung Secret Manager → TIMEOUT within deadline + 1.5 s, and the process exits by itself', async (t) => {
  const fakes = await startFakes(t)
  const key = writeServiceAccountKey(fakes.world, SA_EMAIL)
  const base = { ...fakes.env, CLOUD_SECRETS_TIMEOUT_MS: String(DEADLINE), CLOUD_SECRETS: 'db=db', CLOUDSDK_CONFIG: emptyDir() }
  fakes.world.faults.metadata.hang = true
  fakes.world.faults.secretManager.hang = true
  const [cloudRun, keyFile] = await Promise.all([
    runConsumer({ ...base, K_SERVICE: 'api', GCE_METADATA_HOST: fakes.metadata.host }),
    runConsumer({ ...base, CLOUD_SECRETS_PROVIDER: 'gcp', GOOGLE_APPLICATION_CREDENTIALS: key.file })
  ])
  for (const [name, run] of [['Cloud Run, silent metadata server', cloudRun], ['key file, silent Secret Manager', keyFile]] as const) {
    t.equal(run.result.code, 'FST_CLOUD_SECRETS_TIMEOUT', `${name}: ${run.stderr}`)
    t.ok((run.result.ms ?? Infinity) < DEADLINE + MARGIN, `${name}: failed after ${run.result.ms} ms`)
    t.equal(run.exitCode, 0, `${name}: exited by itself (after ${Math.round(run.exitMs)} ms from spawn)`)
    t.ok(run.exitMs < 15_000, `${name}: not killed by the safety net`)
  }
  t.match(cloudRun.result.message, /metadata server/)
  t.match(keyFile.result.message, /AccessSecretVersion/)
})

test('child process: a consumer app on Cloud Run with env vars only loads its secrets', async (t) => {
  const fakes = await startFakes(t)
  fakes.world.addSecret('projects/demo-project/secrets/db', 'v')
  fakes.world.allowAccess(fakes.world.metadataIdentity.email, '*')
  const run = await runConsumer({ ...fakes.env, K_SERVICE: 'api', GCE_METADATA_HOST: fakes.metadata.host, GOOGLE_CLOUD_PROJECT: 'demo-project', CLOUD_SECRETS: 'db=db', CLOUDSDK_CONFIG: emptyDir() })
  t.match(run.result, { ok: true, identity: { provider: 'gcp', platform: 'cloud-run', source: 'gcp:metadata', principal: fakes.world.metadataIdentity.email }, secrets: ['db'] }, run.stderr)
  t.equal(run.exitCode, 0)
})

test('nothing connected outside loopback', async (t) => {
  t.same((globalThis as { __loopbackViolations?: string[] }).__loopbackViolations, [])
})
