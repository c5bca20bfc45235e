import { test } from 'tap'
import { writeFileSync } from 'node:fs'
import net from 'node:net'
import { join } from 'node:path'
import Fastify from 'fastify'
import cloudSecrets, { CloudSecretsError } from '../../src/index.js'
import { randomSecret } from '../helpers/capture.js'
import { parseJson, runCli, runCliInProcess, tempDir, writeValues } from './run.js'

// Most runs go through the CLI's main() in this process (runCliInProcess); a few stay real child
// processes of the built bin, one per exit status (0, 1, 2) and the one whose check never answers.

const dir = tempDir()
const jwt = randomSecret('jwt')
const dbPassword = randomSecret('db')
const file = writeValues(dir, { 'jwt-key': jwt, db: { user: 'app', password: dbPassword } })

const healthy = {
  CLOUD_SECRETS_PROVIDER: 'local',
  CLOUD_SECRETS_LOCAL_FILE: file,
  CLOUD_SECRETS: 'jwtKey=jwt-key, dbPassword=db#password'
}

test('doctor on a healthy local setup: exit 0, every secret ok with store, byte length and latency, no value', async (t) => {
  const run = await runCli(['doctor'], healthy)
  t.equal(run.code, 0, run.stderr)
  t.equal(run.stderr, '')
  t.match(run.stdout, /platform\s+local/)
  t.match(run.stdout, /Identity \(local\)\s+ok/)
  t.match(run.stdout, new RegExp(`ok\\s+jwtKey\\s+store local, version -, ${Buffer.byteLength(jwt)} bytes, \\d+ ms`))
  t.match(run.stdout, new RegExp(`ok\\s+dbPassword\\s+store local, version -, ${Buffer.byteLength(dbPassword)} bytes`))
  t.match(run.stdout, /Result: the app would start\. Secrets: 2 loaded, 0 optional absent, 0 failed/)
  t.notOk(run.stdout.includes(jwt) || run.stdout.includes(dbPassword), 'no value printed')
  t.notMatch(run.stdout, /\u001b\[/, 'no ANSI codes when stdout is piped') // eslint-disable-line no-control-regex
})

test('doctor --json: one document with platform, identity, attempts and per-secret facts', async (t) => {
  const run = await runCliInProcess(['doctor', '--json'], healthy)
  t.equal(run.code, 0)
  const doc = parseJson(run)
  t.match(doc, {
    tool: 'fastify-cloud-secrets',
    version: String,
    command: 'doctor',
    ok: true,
    exitCode: 0,
    platform: 'local',
    markers: [],
    provider: 'local',
    providerChosenBy: 'CLOUD_SECRETS_PROVIDER',
    timeoutMs: 10_000,
    providers: [{ name: 'local', status: 'ok', attempts: [], identity: { provider: 'local', platform: 'local', source: 'local' } }],
    checks: [],
    warnings: [],
    ms: Number
  })
  t.same(doc.secrets.map((s: Record<string, unknown>) => [s.alias, s.status, s.store, s.bytes, s.reference, s.secret, typeof s.ms]), [
    ['jwtKey', 'ok', 'local', Buffer.byteLength(jwt), 'jwt-key', 'jwt-key', 'number'],
    ['dbPassword', 'ok', 'local', Buffer.byteLength(dbPassword), 'db#password', 'db', 'number']
  ])
  t.equal(run.stdout.trim().split('\n').length > 1 && run.stdout.trim().startsWith('{') && run.stdout.trim().endsWith('}'), true, 'stdout is exactly one JSON document')
})

test('a missing secret: exit 1, every secret reported, the fix is the one the plugin\'s startup error carries', async (t) => {
  const env = { ...healthy, CLOUD_SECRETS: 'jwtKey=jwt-key, apiKey=api-key, dbPassword=db#password, dbHost=db#host' }
  const run = await runCli(['doctor', '--json'], env)
  t.equal(run.code, 1)
  const doc = parseJson(run)
  t.equal(doc.ok, false)
  t.same(doc.secrets.map((s: Record<string, unknown>) => [s.alias, s.status]), [['jwtKey', 'ok'], ['apiKey', 'failed'], ['dbPassword', 'ok'], ['dbHost', 'failed']], 'it did not stop at the first failure')

  // the same configuration through the plugin
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  app.register(cloudSecrets, { env })
  const err = await app.ready().then(() => undefined, (e: unknown) => e)
  t.ok(err instanceof CloudSecretsError)
  const startup = err as CloudSecretsError
  t.equal(startup.code, 'FST_CLOUD_SECRETS_LOAD_FAILED')
  const byAlias = new Map(startup.errors?.map((e) => [e.alias, e]))
  for (const alias of ['apiKey', 'dbHost']) {
    const line = doc.secrets.find((s: Record<string, unknown>) => s.alias === alias)
    const expected = byAlias.get(alias) as CloudSecretsError
    t.equal(line.error.code, expected.code, `${alias}: same code`)
    t.equal(line.error.summary, expected.summary, `${alias}: same summary`)
    t.equal(line.error.fix, expected.fix, `${alias}: same fix`)
  }
  t.equal(byAlias.get('apiKey')?.fix, `add api-key to CLOUD_SECRETS_LOCAL_FILE (${file}), or mark the reference ?optional`)

  const text = await runCliInProcess(['doctor'], env)
  t.equal(text.code, 1)
  for (const alias of ['apiKey', 'dbHost']) {
    const expected = byAlias.get(alias) as CloudSecretsError
    t.ok(text.stdout.includes(`fix: ${expected.fix}`), `the text output prints the exact fix for ${alias}`)
    t.ok(text.stdout.includes(expected.code))
  }
  t.match(text.stdout, /FAILED\s+apiKey/)
  t.match(text.stdout, /Result: the app would NOT start\. Secrets: 2 loaded, 0 optional absent, 2 failed/)
})

test('an absent optional secret is not a failure: exit 0, reported as absent', async (t) => {
  const run = await runCliInProcess(['doctor', '--json'], { ...healthy, CLOUD_SECRETS: 'jwtKey=jwt-key, sentry=sentry-dsn?optional, region=db?optional#region' })
  t.equal(run.code, 0)
  const doc = parseJson(run)
  t.same(doc.secrets.map((s: Record<string, unknown>) => [s.alias, s.status, s.optional]), [['jwtKey', 'ok', false], ['sentry', 'absent', true], ['region', 'absent', true]])
  t.same(doc.warnings, [], 'per-secret warnings are the secret lines, not repeated')
  const text = await runCliInProcess(['doctor'], { ...healthy, CLOUD_SECRETS: 'jwtKey=jwt-key, sentry=sentry-dsn?optional' })
  t.equal(text.code, 0)
  t.match(text.stdout, /absent\s+sentry\s+optional and absent: app\.secrets\.sentry would be undefined/)
  t.match(text.stdout, /1 loaded, 1 optional absent, 0 failed/)
})

test('a config error: exit 2, every problem listed, nothing contacted', async (t) => {
  let connections = 0
  const server = net.createServer((s) => { connections++; s.destroy() })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const endpoint = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`
  const env = {
    CLOUD_SECRETS_PROVIDER: 'aws',
    AWS_REGION: 'nowhere',
    AWS_ENDPOINT_URL: endpoint,
    AWS_ENDPOINT_URL_STS: endpoint,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoint,
    AWS_ACCESS_KEY_ID: 'AKIAIOSFODNN7EXAMPLE',
    AWS_SECRET_ACCESS_KEY: randomSecret('sk'),
    CLOUD_SECRETS_TIMEOUT_MS: 'soon',
    CLOUD_SECRETS: 'jwtKey=jwt key, db=prod/db?bogus, jwtKey=again'
  }
  const cases = [['doctor'], ['doctor', '--json'], ['policy'], ['policy', '--json']]
  const runs = await Promise.all(cases.map(async (args) => await runCliInProcess(args, env)))
  for (const [i, args] of cases.entries()) {
    const run = runs[i]
    t.equal(run.code, 2, `${args.join(' ')}: exit 2`)
    t.equal(run.stderr, '')
    const json = args.includes('--json')
    const out = json ? String(parseJson(run).configError.summary) : run.stdout
    for (const needle of ['CLOUD_SECRETS_TIMEOUT_MS', '"soon" is not a whole number', 'alias "jwtKey"', 'white space', 'unknown parameter "bogus"', 'the alias is defined twice', '"nowhere" is not an AWS region']) {
      t.ok(out.includes(needle), `${args.join(' ')} lists: ${needle}`)
    }
    if (json) {
      const doc = parseJson(run)
      t.equal(doc.configError.code, 'FST_CLOUD_SECRETS_CONFIG')
      t.equal(doc.configError.problems.length, 5, 'all five problems')
      t.same(doc.providers, [], 'no provider was loaded')
    } else {
      t.match(out, /FST_CLOUD_SECRETS_CONFIG/)
      t.match(out, /no network call was made/)
    }
  }
  t.equal(connections, 0, 'no connection was made')
})

test('usage errors exit 2 with a pointer to --help', async (t) => {
  const cases = [[], ['frobnicate'], ['doctor', '--bogus'], ['doctor', 'extra'], ['doctor', '--principal', 'x'], ['policy', '--principal', 'aws='], ['policy', '--principal', 'a', '--principal', 'b'], ['doctor', '--config']]
  // the first as the bin itself (its exit status), the others in process
  const runs = await Promise.all(cases.map(async (args, i) => await (i === 0 ? runCli : runCliInProcess)(args, healthy)))
  for (const [i, args] of cases.entries()) {
    const run = runs[i]
    t.equal(run.code, 2, `${JSON.stringify(args)} exits 2`)
    t.equal(run.stdout, '')
    t.match(run.stderr, /^fastify-cloud-secrets: .+\nRun fastify-cloud-secrets --help for usage\.\n$/)
  }
})

test('--help and --version', async (t) => {
  const help = await runCliInProcess(['--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /Usage: fastify-cloud-secrets <command>/)
  t.match(help.stdout, /doctor/)
  t.match(help.stdout, /policy/)
  t.match(help.stdout, /Exit status: 0 .* 1 .*\n2 usage error or invalid configuration/s)
  const version = await runCli(['-v'])
  t.equal(version.code, 0)
  const { version: expected } = JSON.parse((await import('node:fs')).readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  t.equal(version.stdout, `${expected}\n`)
})

test('--config <module>: its default export is the plugin options; env vars fill the rest', async (t) => {
  const inMemory = randomSecret('mem')
  const module = join(dir, 'cloud-secrets.config.mjs')
  writeFileSync(module, `export default {
    provider: 'local',
    secrets: { jwtKey: 'jwt-key', apiKey: 'api-key', optionalKey: 'nope?optional' },
    local: { values: { 'api-key': ${JSON.stringify(inMemory)} } },
    checks: { custom: { database: async () => {}, queue: async () => { throw new Error('queue is not reachable') } } }
  }\n`)
  const run = await runCliInProcess(['doctor', '--json', '--config', module], { CLOUD_SECRETS_LOCAL_FILE: file, CLOUD_SECRETS: 'ignored=because-options-win' })
  t.equal(run.code, 1, 'a failed custom check fails the run')
  const doc = parseJson(run)
  t.same(doc.secrets.map((s: Record<string, unknown>) => [s.alias, s.status, s.bytes]), [['jwtKey', 'ok', Buffer.byteLength(jwt)], ['apiKey', 'ok', Buffer.byteLength(inMemory)], ['optionalKey', 'absent', undefined]])
  t.match(doc.checks, [{ name: 'database', status: 'ok' }, { name: 'queue', status: 'failed', error: { code: 'FST_CLOUD_SECRETS_CHECK_FAILED', summary: 'startup check "queue" failed: queue is not reachable', fix: String } }])
  t.notOk(run.stdout.includes(inMemory))

  // relative to the working directory, and a function export
  writeFileSync(join(dir, 'fn.config.mjs'), `export default async () => ({ provider: 'local', secrets: { jwtKey: 'jwt-key' }, local: { file: ${JSON.stringify(file)} } })\n`)
  const fn = await runCliInProcess(['doctor', '--config', 'fn.config.mjs'], {}, { cwd: dir })
  t.equal(fn.code, 0, fn.stdout + fn.stderr)
  t.match(fn.stdout, /provider\s+local\s+chosen by options\.provider/)

  writeFileSync(join(dir, 'bad.config.mjs'), 'export default 42\n')
  const bad = await runCliInProcess(['doctor', '--config', join(dir, 'bad.config.mjs')])
  t.equal(bad.code, 2)
  t.match(bad.stderr, /default export must be the plugin options object .*got number/)
  const missing = await runCliInProcess(['doctor', '--config', join(dir, 'no-such.mjs')])
  t.equal(missing.code, 2)
  t.match(missing.stderr, /--config .*no-such\.mjs: cannot import it/)
  writeFileSync(join(dir, 'syntax.config.mjs'), `export default { local: { values: { a: ${JSON.stringify(inMemory)} } } oops }\n`)
  const syntax = await runCliInProcess(['doctor', '--config', join(dir, 'syntax.config.mjs')])
  t.equal(syntax.code, 2)
  t.notOk(syntax.stderr.includes(inMemory), 'a syntax error does not quote the module source')
})

test('the deadline: a check that never answers ends the run as TIMEOUT naming it, within the deadline', async (t) => {
  const module = join(dir, 'hang.config.mjs')
  writeFileSync(module, `export default {
    provider: 'local', timeoutMs: 600, secrets: { jwtKey: 'jwt-key' }, local: { file: ${JSON.stringify(file)} },
    checks: { custom: { hangs: () => new Promise(() => {}) } }
  }\n`)
  const run = await runCli(['doctor', '--json', '--config', module])
  t.equal(run.code, 1)
  t.ok(run.ms < 600 + 1500 + 1000, `exited in ${run.ms} ms`)
  const doc = parseJson(run)
  t.match(doc.timeout, { code: 'FST_CLOUD_SECRETS_TIMEOUT', pending: ['check "hangs"'], fix: /CLOUD_SECRETS_TIMEOUT_MS/ })
  t.match(doc.checks, [{ name: 'hangs', status: 'skipped' }])
  t.match(doc.secrets, [{ alias: 'jwtKey', status: 'failed', error: { code: 'FST_CLOUD_SECRETS_TIMEOUT' } }])
  const text = await runCliInProcess(['doctor', '--config', module])
  t.equal(text.code, 1)
  t.match(text.stdout, /Deadline\n {2}FST_CLOUD_SECRETS_TIMEOUT/)
  t.match(text.stdout, /still pending: check "hangs"/)
  t.match(text.stdout, /the deadline fired/)
})

test('a local values file that cannot be read is reported as the identity step failing', async (t) => {
  const run = await runCliInProcess(['doctor'], { ...healthy, CLOUD_SECRETS_LOCAL_FILE: join(dir, 'absent.json') })
  t.equal(run.code, 1)
  t.match(run.stdout, /Identity \(local\)\s+FAILED/)
  t.match(run.stdout, /FST_CLOUD_SECRETS_CONFIG/)
  t.match(run.stdout, /cannot read .*absent\.json \(ENOENT\)/)
  t.match(run.stdout, /skipped\s+jwtKey\s+not asked: provider local has no identity/)
})

test('identity only (no secrets); doctor shows the refresh setting', async (t) => {
  const run = await runCliInProcess(['doctor', '--fleet', '1000'], { CLOUD_SECRETS_PROVIDER: 'local', CLOUD_SECRETS_LOCAL_FILE: file, CLOUD_SECRETS_REFRESH_MS: '15m' })
  t.equal(run.code, 0)
  t.match(run.stdout, /Secrets \(0\)\n {2}none configured/)
  t.match(run.stdout, /Refresh\n {2}every 15m ± 10 % \(CLOUD_SECRETS_REFRESH_MS\), stale after 45m/)
  const off = await runCliInProcess(['doctor'], { CLOUD_SECRETS_PROVIDER: 'local', CLOUD_SECRETS_LOCAL_FILE: file })
  t.match(off.stdout, /Refresh\n {2}off: secrets are loaded once/)
})

test('policy on local explains there is nothing to grant (with or without --principal)', async (t) => {
  const runs = await Promise.all([['policy'], ['policy', '--principal', 'someone@example.com']].map(async (args) => await runCliInProcess(args, healthy)))
  for (const run of runs) {
    t.equal(run.code, 0)
    t.match(run.stdout, /^fastify-cloud-secrets policy\n\nlocal\n {2}secrets: jwtKey, dbPassword\n {2}provider local reads values from CLOUD_SECRETS_LOCAL_FILE or options\.local\.values: there is no cloud identity and nothing to grant/)
  }
  const json = await runCliInProcess(['policy', '--json'], healthy)
  t.equal(json.code, 0)
  t.match(parseJson(json), { command: 'policy', ok: true, exitCode: 0, provider: 'local', providers: [{ name: 'local', aliases: ['jwtKey', 'dbPassword'], documents: [], note: /nothing to grant/ }] })
})
