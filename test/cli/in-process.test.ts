import { test } from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { main } from '../../src/cli/main.js'
import { COLOUR, PLAIN, renderDoctor, renderPolicy } from '../../src/cli/render.js'
import type { DoctorReport, PolicyReport } from '../../src/cli/diagnose.js'
import { assertNoLeak, randomSecret } from '../helpers/capture.js'
import { tempDir, writeValues } from './run.js'

// The same command runner the bin uses (src/cli.ts only adds process.exit), in this process, so
// that c8 sees it; the child-process tests (local.test.ts, output.test.ts) run the built bin.

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/

function capture (isTTY = false): { write: (text: string, cb: () => void) => boolean, isTTY: boolean, text: () => string } {
  let buf = ''
  return { isTTY, write: (text, cb) => { buf += text; cb(); return true }, text: () => buf }
}

async function cli (argv: string[], env: Record<string, string | undefined>, options: { tty?: boolean, cwd?: string } = {}): Promise<{ code: number, stdout: string, stderr: string }> {
  const stdout = capture(options.tty)
  const stderr = capture()
  const code = await main(argv, { stdout, stderr, env, cwd: options.cwd ?? process.cwd() })
  return { code, stdout: stdout.text(), stderr: stderr.text() }
}

const dir = tempDir()
const jwt = randomSecret('jwt')
const password = randomSecret('pw')
const file = writeValues(dir, { 'jwt-key': jwt, db: { password } })
const healthy = { CLOUD_SECRETS_PROVIDER: 'local', CLOUD_SECRETS_LOCAL_FILE: file, CLOUD_SECRETS: 'jwtKey=jwt-key, dbPassword=db#password' }
const failing = { ...healthy, CLOUD_SECRETS: 'jwtKey=jwt-key, missing=nope, host=db#host, sentry=sentry?optional' }

test('doctor in process: healthy, failing, JSON, terminal colour and progress', async (t) => {
  const ok = await cli(['doctor'], healthy)
  t.equal(ok.code, 0)
  t.match(ok.stdout, new RegExp(`ok\\s+jwtKey\\s+store local, version -, ${jwt.length} bytes`))
  t.notMatch(ok.stdout, ANSI)

  const bad = await cli(['doctor', '--json'], failing)
  t.equal(bad.code, 1)
  const doc = JSON.parse(bad.stdout)
  t.same(doc.secrets.map((s: { alias: string, status: string }) => [s.alias, s.status]), [['jwtKey', 'ok'], ['missing', 'failed'], ['host', 'failed'], ['sentry', 'absent']])
  t.equal(doc.secrets[2].error.fix, 'add "host" to the JSON of db, fix the path after #, or mark the reference ?optional')

  const tty = await cli(['doctor'], failing, { tty: true })
  t.equal(tty.code, 1)
  t.match(tty.stdout, ANSI)
  t.match(tty.stdout, /^fastify-cloud-secrets: reading configuration…\r +\r/)
  t.match(tty.stdout, /loading 4 secrets…/)
  const noColour = await cli(['doctor'], { ...failing, NO_COLOR: '1' }, { tty: true })
  t.notMatch(noColour.stdout, ANSI)
  t.match(noColour.stdout, /…\r/, 'the progress line stays on a terminal without colour')
  const ttyJson = await cli(['doctor', '--json'], failing, { tty: true })
  t.notMatch(ttyJson.stdout, /…/)
  t.equal(JSON.parse(ttyJson.stdout).exitCode, 1)

  assertNoLeak(t, [ok, bad, tty, noColour, ttyJson].map((r) => r.stdout + r.stderr).join('\n'), [jwt, password])
})

test('doctor in process: config error, usage errors, help, version', async (t) => {
  const config = await cli(['doctor'], { CLOUD_SECRETS_PROVIDER: 'nope', CLOUD_SECRETS: 'a=b?x' })
  t.equal(config.code, 2)
  t.match(config.stdout, /Configuration {2}INVALID/)
  t.match(config.stdout, /CLOUD_SECRETS_PROVIDER/)
  t.match(config.stdout, /unknown parameter "x"/)
  const configJson = await cli(['policy', '--json'], { CLOUD_SECRETS_PROVIDER: 'nope' })
  t.equal(configJson.code, 2)
  t.match(JSON.parse(configJson.stdout), { command: 'policy', ok: false, exitCode: 2, configError: { code: 'FST_CLOUD_SECRETS_CONFIG' } })
  const policyText = await cli(['policy'], { CLOUD_SECRETS_PROVIDER: 'nope' })
  t.match(policyText.stdout, /Configuration {2}INVALID/)

  for (const argv of [[], ['nope'], ['doctor', '--what'], ['doctor', 'x'], ['doctor', '--principal', 'p'], ['policy', '--principal', 'gcp= '], ['policy', '--principal', 'aws=a', '--principal', 'aws=b']]) {
    const run = await cli(argv, healthy)
    t.equal(run.code, 2, JSON.stringify(argv))
    t.equal(run.stdout, '')
    t.match(run.stderr, /--help for usage/)
  }
  t.match((await cli(['-h'], {})).stdout, /^Usage: fastify-cloud-secrets/)
  t.match((await cli(['--version'], {})).stdout, /^\d+\.\d+\.\d+/)
})

test('--config in process: relative path, function export, throwing export, custom checks, deadline', async (t) => {
  writeFileSync(join(dir, 'ok.mjs'), `export default () => ({ provider: 'local', secrets: { jwtKey: 'jwt-key' }, local: { file: ${JSON.stringify(file)} } })\n`)
  const ok = await cli(['doctor', '--config', 'ok.mjs'], {}, { cwd: dir })
  t.equal(ok.code, 0, ok.stdout + ok.stderr)
  t.match(ok.stdout, /chosen by options\.provider/)

  writeFileSync(join(dir, 'throws.mjs'), 'export default async () => { throw new Error(\'no vault configured\') }\n')
  const throws = await cli(['doctor', '--config', 'throws.mjs'], {}, { cwd: dir })
  t.equal(throws.code, 2)
  t.match(throws.stderr, /--config throws\.mjs: its default export threw \(no vault configured\)/)
  writeFileSync(join(dir, 'array.mjs'), 'export default []\n')
  t.match((await cli(['doctor', '--config', 'array.mjs'], {}, { cwd: dir })).stderr, /got an array/)
  writeFileSync(join(dir, 'null.mjs'), 'export default null\n')
  t.match((await cli(['doctor', '--config', 'null.mjs'], {}, { cwd: dir })).stderr, /got null/)
  t.match((await cli(['doctor', '--config', 'missing.mjs'], {}, { cwd: dir })).stderr, /cannot import it/)

  writeFileSync(join(dir, 'checks.mjs'), `export default {
    provider: 'local', secrets: { jwtKey: 'jwt-key' }, local: { file: ${JSON.stringify(file)} },
    checks: { custom: [async function database () {}, async function queue () { throw new Error('queue down') }, async () => { throw 'plain' }] }
  }\n`)
  const checks = await cli(['doctor', '--config', 'checks.mjs'], {}, { cwd: dir })
  t.equal(checks.code, 1)
  t.match(checks.stdout, /Checks \(3\)\n {2}ok {7}database\n {2}FAILED {3}queue\n/)
  t.match(checks.stdout, /startup check "queue" failed: queue down/)
  t.match(checks.stdout, /startup check "check #3" failed: plain/)
  t.match(checks.stdout, /a startup check failed/)

  writeFileSync(join(dir, 'hang.mjs'), `export default {
    provider: 'local', timeoutMs: 300, secrets: { jwtKey: 'jwt-key' }, local: { file: ${JSON.stringify(file)} },
    checks: { custom: { hangs: () => new Promise(() => {}) } }
  }\n`)
  const started = Date.now()
  const hang = await cli(['doctor', '--config', 'hang.mjs'], {}, { cwd: dir })
  t.ok(Date.now() - started < 300 + 1500, 'within the deadline plus the close grace')
  t.equal(hang.code, 1)
  t.match(hang.stdout, /FAILED {3}jwtKey .*\n {11}FST_CLOUD_SECRETS_TIMEOUT: still pending when the deadline fired/)
  t.match(hang.stdout, /skipped {2}hangs/)
})

test('doctor in process: a second provider that cannot start skips its secrets; identity only', async (t) => {
  const run = await cli(['doctor', '--json'], { ...healthy, CLOUD_SECRETS: 'jwtKey=jwt-key, remote=aws://prod/db' })
  t.equal(run.code, 1)
  const doc = JSON.parse(run.stdout)
  t.match(doc.providers, [{ name: 'local', status: 'ok' }, { name: 'aws', status: 'failed', error: { code: String, fix: String } }])
  t.match(doc.secrets, [{ alias: 'jwtKey', status: 'ok' }, { alias: 'remote', provider: 'aws', status: /skipped|failed/ }])
  const text = await cli(['doctor'], { ...healthy, CLOUD_SECRETS: 'jwtKey=jwt-key, remote=aws://prod/db' })
  t.match(text.stdout, /Identity \(aws\)\s+FAILED/)
  t.match(text.stdout, /no identity for aws/)

  const none = await cli(['doctor'], { CLOUD_SECRETS: 'remote=aws://prod/db' })
  t.equal(none.code, 1)
  t.match(none.stdout, /provider\s+none \(every reference names its cloud\)/)
  t.match(none.stdout, /platform\s+no cloud platform detected/)
})

test('policy in process: local, and a provider that cannot start', async (t) => {
  const local = await cli(['policy'], healthy)
  t.equal(local.code, 0)
  t.match(local.stdout, /nothing to grant/)
  const identityOnly = await cli(['policy', '--json'], { CLOUD_SECRETS_PROVIDER: 'local', CLOUD_SECRETS_LOCAL_FILE: file })
  t.match(JSON.parse(identityOnly.stdout).providers, [{ name: 'local', aliases: [] }])
  const remote = await cli(['policy'], { ...healthy, CLOUD_SECRETS: 'jwtKey=jwt-key, remote=aws://prod/db' })
  t.match(remote.stdout, /\naws\n {2}secrets: remote\n {2}FST_CLOUD_SECRETS_/)
  t.match(remote.stdout, /pass --principal <id>/)
})

const now = Date.now()
const doctorReport: DoctorReport = {
  command: 'doctor',
  ok: false,
  exitCode: 1,
  platform: 'ecs',
  markers: [{ provider: 'aws', marker: 'ECS_CONTAINER_METADATA_URI_V4' }],
  provider: 'aws',
  providerChosenBy: 'auto (ECS_CONTAINER_METADATA_URI_V4 is set)',
  timeoutMs: 5000,
  providers: [{
    name: 'aws',
    status: 'ok',
    attempts: [
      { source: 'aws:env', outcome: 'skipped', reason: 'AWS_ACCESS_KEY_ID is not set' },
      { source: 'aws:container', outcome: 'ok', reason: 'http://169.254.170.2/v2/credentials/…' }
    ],
    identity: { provider: 'aws', platform: 'ecs', source: 'aws:container', principal: 'arn:aws:sts::123456789012:assumed-role/app/task', account: '123456789012', region: 'eu-west-1', expiresAt: new Date(now + 3 * 3600_000).toISOString(), details: { roleName: 'app', skipped: undefined } }
  }, {
    name: 'gcp',
    status: 'failed',
    attempts: [{ source: 'gcp:metadata', outcome: 'failed', reason: 'metadata server did not answer' }],
    identity: { provider: 'gcp', platform: 'gce', source: 'gcp:metadata', expiresAt: new Date(now - 5 * 60_000).toISOString() },
    error: { code: 'FST_CLOUD_SECRETS_NO_CREDENTIALS', kind: 'NO_CREDENTIALS', summary: 'no credentials', fix: 'gcloud auth application-default login' }
  }, {
    name: 'azure',
    status: 'ok',
    attempts: [],
    identity: { provider: 'azure', platform: 'vm', source: 'azure:cli', expiresAt: 'soon' }
  }, {
    name: 'local',
    status: 'ok',
    attempts: [],
    identity: { provider: 'local', platform: 'local', source: 'local', expiresAt: new Date(now + 10 * 60_000).toISOString() }
  }],
  checks: [],
  secrets: [
    { alias: 'db', provider: 'aws', reference: 'prod/db', secret: 'prod/db', optional: false, status: 'failed', error: { code: 'FST_CLOUD_SECRETS_ACCESS_DENIED', kind: 'ACCESS_DENIED', title: 'The principal is not allowed to read a secret', summary: 'denied', fix: 'attach this policy:\n{\n  "Version": "2012-10-17"\n}' } },
    { alias: 'db2', provider: 'aws', reference: 'prod/db2', secret: 'prod/db2', optional: false, status: 'failed', error: { code: 'FST_CLOUD_SECRETS_ACCESS_DENIED', kind: 'ACCESS_DENIED', summary: 'denied too', fix: 'attach this policy:\n{\n  "Version": "2012-10-17"\n}' } },
    { alias: 'plain', provider: 'aws', reference: 'x', secret: 'x', optional: false, status: 'failed' },
    { alias: 'ok', provider: 'aws', reference: 'y', secret: 'y', optional: false, status: 'ok' }
  ],
  warnings: [],
  ms: 12
}

test('render: attempts, principal, expiry, multi-line fixes (synthetic report)', async (t) => {
  const text = renderDoctor(doctorReport, PLAIN)
  t.match(text, /credential sources tried, in order:\n {4}skipped {2}aws:env {8}AWS_ACCESS_KEY_ID is not set\n {4}ok {7}aws:container {2}http:/)
  t.match(text, /principal {2}arn:aws:sts::123456789012:assumed-role\/app\/task/)
  t.match(text, /account {4}123456789012/)
  t.match(text, /expires {4}\S+ \(in 3 h\)/)
  t.match(text, /expires {4}\S+ \(EXPIRED 5 min ago\)/)
  t.match(text, /expires {4}soon/)
  t.match(text, /roleName {3}app/)
  t.match(text, /principal {2}unknown/)
  t.match(text, /credential sources tried: not reported by this provider/)
  t.match(text, /expires {4}never \(local\)/)
  t.match(text, / {11}fix: attach this policy:\n {11}\{\n {13}"Version": "2012-10-17"\n {11}\}/, 'every line of a multi-line fix is indented under its secret')
  t.match(text, /denied too\n {11}fix: the same as for db above\n/, 'a multi-line fix shared by several secrets is printed once')
  t.match(text, /FAILED {3}plain {2}aws:x\n/)
  t.match(text, /ok {7}ok {5}store \?, version -, 0 bytes, 0 ms/)
  t.match(renderDoctor(doctorReport, COLOUR), ANSI)
  const noDetails = renderDoctor({ ...doctorReport, providers: [{ ...doctorReport.providers[0], identity: { provider: 'aws', platform: 'ecs', source: 'aws:env' } }] }, PLAIN)
  t.match(noDetails, /expires {4}not reported by this credential source/)
  t.match(renderDoctor({ ...doctorReport, providerChosenBy: undefined, timeoutMs: undefined }, PLAIN), /deadline {3}\? ms/)
})

test('render: policy documents, principal source, errors (synthetic report)', async (t) => {
  const report: PolicyReport = {
    command: 'policy',
    ok: false,
    exitCode: 1,
    provider: 'aws',
    warnings: [],
    providers: [
      { name: 'aws', principal: 'arn:aws:iam::123456789012:role/app', principalFrom: '--principal', aliases: ['db'], documents: [{ title: 'IAM policy for role app', format: 'json', text: '{\n  "Version": "2012-10-17"\n}\n' }] },
      { name: 'gcp', aliases: ['key'], documents: [], error: { code: 'FST_CLOUD_SECRETS_NO_CREDENTIALS', summary: 'none', fix: 'gcloud auth application-default login' } },
      { name: 'azure', principal: 'oid', aliases: [], documents: [{ title: 'az', format: 'sh', text: 'az role assignment create …' }], note: 'no secret is configured for provider azure: nothing to grant' }
    ]
  }
  const text = renderPolicy(report, PLAIN)
  t.match(text, /^fastify-cloud-secrets policy\n\naws for arn:aws:iam::123456789012:role\/app \(from --principal\)\n {2}secrets: db\n\n# IAM policy for role app \(json\)\n\{\n {2}"Version": "2012-10-17"\n\}\n/)
  t.match(text, /gcp\n {2}secrets: key\n {2}FST_CLOUD_SECRETS_NO_CREDENTIALS\n {2}none\n {2}fix: gcloud auth application-default login\n {2}\(to print the grant without looking the identity up, pass --principal <id>\)/)
  t.match(text, /azure for oid\n {2}secrets: none\n {2}no secret is configured/)
})
