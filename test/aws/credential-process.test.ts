import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'tap'
import { startAwsFakes, type AwsFakes } from '../fakes/aws/index.js'
import { assertNoLeak, errorText } from '../helpers/capture.js'
import { brief, setEnv, startApp } from './helpers.js'
import { distChildEnv, spawnNode } from '../helpers/child-env.js'

// Issue 12 item 1: the SDK runs credential_process with exec and no timeout; a hung command kept
// the process (and the command's children) alive. The plugin runs it in its own process group.

const root = fileURLToPath(new URL('../..', import.meta.url))
const READ = ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue']
const DEADLINE = 2000
let fakes: AwsFakes
let dir: string

test('setup', async () => {
  fakes = await startAwsFakes()
  fakes.world.putSecret('proc/a', 'proc-a-value-0123456789')
  mkdirSync(join(root, 'test', '.tmp'), { recursive: true })
  dir = mkdtempSync(join(root, 'test', '.tmp', 'aws-process-'))
})

/** running (a killed process whose parent is gone may linger as a zombie until init reaps it: that is dead) */
function alive (pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))
  } catch {
    return false
  }
}

test('a credential_process that prints valid JSON → source aws:process, secrets loaded, output never logged', async (t) => {
  const keys = fakes.world.issue('arn:aws:iam::123456789012:user/proc', READ, { session: true })
  const script = join(dir, 'ok.sh')
  writeFileSync(script, `#!/bin/sh\necho '${JSON.stringify({ Version: 1, AccessKeyId: keys.accessKeyId, SecretAccessKey: keys.secretAccessKey, SessionToken: keys.sessionToken, Expiration: new Date(Date.now() + 3600_000).toISOString() })}'\n`)
  chmodSync(script, 0o755)
  const config = join(dir, 'config-ok')
  writeFileSync(config, `[default]\nregion = us-east-1\ncredential_process = ${script}\n`)
  setEnv(t, { ...fakes.env, AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'), AWS_PROFILE: undefined, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined })
  const { app, error, logs } = await startApp(t, { secrets: { a: 'proc/a' } })
  t.error(error, brief(error))
  if (error !== undefined) return
  t.equal(app.secrets.a, 'proc-a-value-0123456789')
  t.equal(app.cloud.identity.source, 'aws:process')
  t.equal(app.cloud.identity.principal, 'arn:aws:iam::123456789012:user/proc')
  assertNoLeak(t, logs.text(), fakes.world.sensitive(), 'logs')
})

test('a credential_process that fails → NO_CREDENTIALS naming the profile, stdout never quoted', async (t) => {
  const script = join(dir, 'bad.sh')
  writeFileSync(script, '#!/bin/sh\necho \'{"Version":1,"AccessKeyId":"AKIA-LEAKED","SecretAccessKey":"LEAKED-SECRET"\'\necho "token expired ASIAHELPERSTDERRTOKEN0123456789" >&2\nexit 3\n')
  chmodSync(script, 0o755)
  const config = join(dir, 'config-bad')
  writeFileSync(config, `[default]\nregion = us-east-1\ncredential_process = ${script}\n`)
  setEnv(t, { ...fakes.env, AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'), AWS_PROFILE: undefined, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined })
  const { error } = await startApp(t, { secrets: { a: 'proc/a' }, retry: { maxAttempts: 1 } })
  t.equal((error as { code?: string })?.code, 'FST_CLOUD_SECRETS_NO_CREDENTIALS', brief(error))
  t.match(errorText(error), 'credential_process of profile "default" exited with code 3: token expired')
  t.notMatch(errorText(error), 'LEAKED')
  t.notMatch(errorText(error), 'ASIAHELPERSTDERRTOKEN', 'a token-like run on stderr is redacted')
})

test('child process: a hung credential_process → TIMEOUT naming the step; the process exits by itself and no descendant survives', async (t) => {
  if (!existsSync(join(root, 'dist', 'providers', 'aws', 'process-source.js'))) {
    await new Promise<void>((resolve, reject) => spawn('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'ignore' }).on('exit', (code) => code === 0 ? resolve() : reject(new Error(`build failed: ${String(code)}`))))
  }
  const pids = join(dir, 'pids')
  const hang = join(dir, 'hang.sh')
  // the script and its sleep record their pids, so the test can check that none survives
  writeFileSync(hang, `#!/bin/sh\necho $$ >> ${pids}\nsleep 1000 &\necho $! >> ${pids}\nwait\n`)
  chmodSync(hang, 0o755)
  const config = join(dir, 'config-hang')
  writeFileSync(config, `[default]\nregion = us-east-1\ncredential_process = ${hang}\n`)
  const script = join(dir, 'app.mjs')
  writeFileSync(script, `
import Fastify from ${JSON.stringify(join(root, 'node_modules', 'fastify', 'fastify.js'))}
import cloudSecrets from ${JSON.stringify(join(root, 'dist', 'index.js'))}
// loaded before the clock starts, as an app's own imports would be
import '@aws-sdk/client-secrets-manager'
import ${JSON.stringify(join(root, 'dist', 'providers', 'aws', 'index.js'))}
const app = Fastify({ logger: false })
const started = Date.now()
app.register(cloudSecrets, { provider: 'aws', secrets: { dbPassword: 'prod/db-password' }, timeoutMs: ${DEADLINE} })
try {
  await app.ready()
  console.log(JSON.stringify({ ok: true }))
} catch (err) {
  console.log(JSON.stringify({ code: err.code, ms: Date.now() - started, pending: err.pending }))
}
// no process.exit: the process must end because nothing is left open
`)
  const env = distChildEnv(fakes.env, { AWS_CONFIG_FILE: config, AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') })
  delete env.AWS_PROFILE
  delete env.AWS_ACCESS_KEY_ID
  delete env.AWS_SECRET_ACCESS_KEY
  const started = Date.now()
  const child = spawnNode([script], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d: Buffer) => { stdout += String(d) })
  child.stderr.on('data', (d: Buffer) => { stderr += String(d) })
  const exited = await new Promise<number | null | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 20_000)
    child.on('exit', (code) => { clearTimeout(timer); resolve(code) })
  })
  if (exited === undefined) child.kill('SIGKILL')
  const out = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { code?: string, ms?: number, pending?: string[] }
  t.equal(out.code, 'FST_CLOUD_SECRETS_TIMEOUT', stderr.slice(0, 300))
  t.ok(out.pending?.some((p) => p.includes('aws:process')), `the pending step names the source: ${String(out.pending)}`)
  t.not(exited, undefined, `the node process exited by itself (after ${Date.now() - started} ms)`)
  t.equal(exited, 0, 'exit code 0')
  const recorded = existsSync(pids) ? readFileSync(pids, 'utf8').trim().split('\n').map(Number).filter((n) => n > 0) : []
  t.equal(recorded.length, 2, 'the script and its sleep started')
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.same(recorded.filter(alive), [], 'no descendant of the credential_process survives')
})

test('teardown', async () => {
  await fakes.close()
  rmSync(dir, { recursive: true, force: true })
})
