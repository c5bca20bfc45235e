import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'tap'
import type { CloudSecretsError } from '../../src/errors.js'
import { FakeContainerCredentials, FakeImds, startAwsFakes, type AwsFakes } from '../fakes/aws/index.js'
import { assertNoLeak, errorText } from '../helpers/capture.js'
import { brief, loopbackViolations, setEnv, startApp } from './helpers.js'
import { distChildEnv, spawnNode } from '../helpers/child-env.js'

const READ = ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue']
const DEADLINE = 1500
const MARGIN = 1500
let fakes: AwsFakes

test('setup', async () => {
  // the provider and every SDK piece it may load, before any clock starts: a cold import under
  // tap's compiler on a busy machine can take longer than the 1.5 s deadline under test
  await import('../../src/providers/aws/index.js')
  await (await import('../../src/providers/aws/sdk.js')).warm()
  fakes = await startAwsFakes()
  fakes.world.putSecret('hang/a', 'hang-a-value-0123456')
})

async function waitFor (check: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms
  while (!check() && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 20))
  return check()
}

test('a container credentials endpoint that accepts and never answers → TIMEOUT within the deadline, request destroyed', async (t) => {
  const container = await new FakeContainerCredentials(fakes.world, { principal: 'arn:aws:sts::123456789012:assumed-role/task/h', allow: READ }).start()
  t.teardown(() => container.close())
  container.faults = { hang: true }
  setEnv(t, { ...fakes.env, AWS_CONTAINER_CREDENTIALS_FULL_URI: container.fullUri })
  const { error, ms, logs } = await startApp(t, { secrets: { a: 'hang/a' }, timeoutMs: DEADLINE })
  const err = error as CloudSecretsError
  t.equal(err?.code, 'FST_CLOUD_SECRETS_TIMEOUT', brief(err))
  t.ok(ms < DEADLINE + MARGIN, `failed after ${ms} ms (deadline ${DEADLINE} ms)`)
  t.ok(err.pending?.includes(`identity: AWS credential chain (aws:container via container credentials ${container.fullUri})`), `pending names the endpoint: ${String(err.pending)}`)
  t.ok(await waitFor(() => container.hanging === 0, 500), 'the hung request was closed by the client at the deadline')
  assertNoLeak(t, errorText(err) + logs.text(), fakes.world.sensitive(), 'error and logs')
})

test('Secrets Manager that never answers → TIMEOUT naming the pending secret', async (t) => {
  const keys = fakes.world.issue('arn:aws:iam::123456789012:user/h', READ, { session: false })
  setEnv(t, { ...fakes.env, AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey })
  fakes.sm.faults = { hang: true }
  t.teardown(() => { fakes.sm.faults = {} })
  const { error, ms } = await startApp(t, { secrets: { a: 'hang/a' }, timeoutMs: DEADLINE })
  const err = error as CloudSecretsError
  t.equal(err?.code, 'FST_CLOUD_SECRETS_TIMEOUT', brief(err))
  t.ok(ms < DEADLINE + MARGIN, `failed after ${ms} ms`)
  t.ok(err.pending?.includes('secret "a" (GetSecretValue hang/a)'), `pending: ${String(err.pending)}`)
  t.ok(await waitFor(() => fakes.sm.hanging === 0), 'the hung Secrets Manager request was aborted')
})

test('STS that never answers → TIMEOUT naming GetCallerIdentity', async (t) => {
  const keys = fakes.world.issue('arn:aws:iam::123456789012:user/h2', READ, { session: false })
  setEnv(t, { ...fakes.env, AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey })
  fakes.sts.faults = { hang: true }
  t.teardown(() => { fakes.sts.faults = {} })
  const { error, ms } = await startApp(t, { secrets: { a: 'hang/a' }, timeoutMs: DEADLINE })
  const err = error as CloudSecretsError
  t.equal(err?.code, 'FST_CLOUD_SECRETS_TIMEOUT', brief(err))
  t.ok(ms < DEADLINE + MARGIN, `failed after ${ms} ms`)
  t.ok(err.pending?.includes('identity: STS GetCallerIdentity (aws:env, region us-east-1)'), `pending: ${String(err.pending)}`)
  t.ok(await waitFor(() => fakes.sts.hanging === 0), 'the hung STS request was aborted')
})

test('a silent IMDS (a laptop, not on EC2) → NO_CREDENTIALS fast, not a timeout', async (t) => {
  const imds = await new FakeImds(fakes.world, { role: 'r', allow: READ }).start()
  t.teardown(() => imds.close())
  imds.faults = { hang: true }
  setEnv(t, { ...fakes.env, AWS_EC2_METADATA_DISABLED: undefined, AWS_EC2_METADATA_SERVICE_ENDPOINT: imds.url })
  const { error, ms } = await startApp(t, { secrets: { a: 'hang/a' }, timeoutMs: 8000 })
  const err = error as CloudSecretsError
  t.equal(err?.code, 'FST_CLOUD_SECRETS_NO_CREDENTIALS', brief(err))
  t.ok(ms < 6000, `failed after ${ms} ms, before the 8 s deadline`)
  t.match(err.attempts?.find((a) => a.source === 'aws:imds'), { outcome: 'failed' })
  t.ok(await waitFor(() => imds.hanging === 0), 'IMDS requests are closed')
})

const root = fileURLToPath(new URL('../..', import.meta.url))

test('child process: a hung endpoint fails startup with TIMEOUT and the process exits by itself', async (t) => {
  if (!existsSync(join(root, 'dist', 'index.js'))) {
    await new Promise<void>((resolve, reject) => spawn('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'ignore' }).on('exit', (code) => code === 0 ? resolve() : reject(new Error(`build failed: ${String(code)}`))))
  }
  const container = await new FakeContainerCredentials(fakes.world, { principal: 'arn:aws:sts::123456789012:assumed-role/task/c', allow: READ }).start()
  t.teardown(() => container.close())
  container.faults = { hang: true }
  // inside the repository, so the SDK's bare specifiers resolve to the same modules dist uses
  mkdirSync(join(root, 'test', '.tmp'), { recursive: true })
  const dir = mkdtempSync(join(root, 'test', '.tmp', 'aws-child-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const script = join(dir, 'app.mjs')
  writeFileSync(script, `
import Fastify from ${JSON.stringify(join(root, 'node_modules', 'fastify', 'fastify.js'))}
import cloudSecrets from ${JSON.stringify(join(root, 'dist', 'index.js'))}
// loaded before the clock starts, as an app's own imports would be: the deadline is about the
// network, and a cold import on a busy machine can take longer than this short test deadline
import '@aws-sdk/client-secrets-manager'
import { warm } from ${JSON.stringify(join(root, 'dist', 'providers', 'aws', 'sdk.js'))}
await warm()
import ${JSON.stringify(join(root, 'dist', 'providers', 'aws', 'index.js'))}
const app = Fastify({ logger: false })
const started = Date.now()
app.register(cloudSecrets, { provider: 'aws', secrets: { a: 'hang/a' }, timeoutMs: ${DEADLINE} })
try {
  await app.ready()
  console.log(JSON.stringify({ ok: true }))
} catch (err) {
  console.log(JSON.stringify({ code: err.code, ms: Date.now() - started, pending: err.pending }))
}
// no process.exit: the process must end because nothing is left open
`)
  const keys = fakes.world.issue('arn:aws:iam::123456789012:user/child', READ, { session: false })
  const run = async (env: Record<string, string | undefined>): Promise<{ out: { code?: string, ms: number, pending?: string[] }, exited: boolean, exitCode: number | null, stderr: string }> => {
    const child = spawnNode([script], { env: distChildEnv(fakes.env, env), stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += String(d) })
    child.stderr.on('data', (d: Buffer) => { stderr += String(d) })
    const exited = await new Promise<{ code: number | null } | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), 15_000)
      child.on('exit', (code) => { clearTimeout(timer); resolve({ code }) })
    })
    if (exited === undefined) child.kill('SIGKILL')
    return { out: JSON.parse(stdout.trim().split('\n').pop() ?? '{}'), exited: exited !== undefined, exitCode: exited?.code ?? null, stderr }
  }
  const [hungContainer, hungStore] = await Promise.all([
    run({ AWS_CONTAINER_CREDENTIALS_FULL_URI: container.fullUri }),
    (async () => {
      fakes.sm.faults = { hang: true }
      return await run({ AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey })
    })()
  ])
  fakes.sm.faults = {}
  for (const [name, result] of [['container credentials', hungContainer], ['Secrets Manager', hungStore]] as const) {
    t.equal(result.out.code, 'FST_CLOUD_SECRETS_TIMEOUT', `${name}: coded timeout (${result.stderr.slice(0, 300)})`)
    t.ok(result.out.ms < DEADLINE + MARGIN, `${name}: failed after ${result.out.ms} ms`)
    t.ok(result.exited, `${name}: the child process exited by itself`)
    t.equal(result.exitCode, 0, `${name}: exit code 0 (no loopback violation)`)
  }
  t.ok(hungContainer.out.pending?.some((p) => p.includes('container credentials')), String(hungContainer.out.pending))
  t.ok(hungStore.out.pending?.some((p) => p.includes('GetSecretValue hang/a')), String(hungStore.out.pending))
})

test('teardown', async (t) => {
  await fakes.close()
  t.same(loopbackViolations(), [], 'no connection left loopback')
})
