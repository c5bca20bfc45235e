import { test } from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { assertNoLeak, randomSecret } from '../helpers/capture.js'
import { HAS_SCRIPT, parseJson, runCli, runCliOnTty, tempDir, writeValues, type CliRun } from './run.js'

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/

const dir = tempDir()
const values = { jwt: randomSecret('jwt'), api: randomSecret('api'), password: randomSecret('pw'), inMemory: randomSecret('mem') }
const dbJson = JSON.stringify({ user: 'app', password: values.password })
const file = writeValues(dir, { 'jwt-key': values.jwt, 'api-key': values.api, db: JSON.parse(dbJson) })
const healthy = { CLOUD_SECRETS_PROVIDER: 'local', CLOUD_SECRETS_LOCAL_FILE: file, CLOUD_SECRETS: 'jwtKey=jwt-key, apiKey=api-key, dbPassword=db#password' }
const failing = { ...healthy, CLOUD_SECRETS: 'jwtKey=jwt-key, missing=nope, dbHost=db#host, db=db, sentry=sentry?optional' }

test('on a terminal: colour and a progress line; NO_COLOR or --no-color: no colour', { skip: HAS_SCRIPT ? false : 'needs script(1) for a pseudo-terminal' }, async (t) => {
  const [tty, noColor, flag, json] = await Promise.all([
    runCliOnTty(['doctor'], failing),
    runCliOnTty(['doctor'], { ...failing, NO_COLOR: '1' }),
    runCliOnTty(['doctor', '--no-color'], failing),
    runCliOnTty(['doctor', '--json'], failing)
  ])
  t.equal(tty.code, 1, 'script passes the exit status through')
  t.match(tty.stdout, ANSI, 'colour on a terminal')
  t.match(tty.stdout, /\u001b\[31mFAILED/, 'failures in red') // eslint-disable-line no-control-regex
  t.match(tty.stdout, /fastify-cloud-secrets: loading 5 secrets…\r +\r/, 'a progress line, erased before the report')
  for (const [name, run] of [['NO_COLOR', noColor], ['--no-color', flag]] as const) {
    t.equal(run.code, 1)
    t.notMatch(run.stdout, ANSI, `${name}: no colour`)
    t.match(run.stdout, /FAILED\s+missing/)
  }
  t.equal(json.code, 1)
  t.notMatch(json.stdout, ANSI, '--json: no colour')
  t.notMatch(json.stdout, /…/, '--json: no progress line')
  t.equal(JSON.parse(json.stdout.replace(/\r\n/g, '\n')).command, 'doctor')
})

test('piped: plain text, no ANSI codes and no progress line, for every command and outcome', async (t) => {
  const runs = await Promise.all([
    runCli(['doctor'], healthy),
    runCli(['doctor'], failing),
    runCli(['doctor'], { ...failing, CLOUD_SECRETS_TIMEOUT_MS: 'x' }),
    runCli(['policy'], healthy),
    runCli(['--help'])
  ])
  for (const run of runs) {
    t.notMatch(run.stdout + run.stderr, ANSI)
    t.notMatch(run.stdout, /\r/)
    t.notMatch(run.stdout, /fastify-cloud-secrets: [a-z ]+…/)
  }
})

test('leak scan: no value appears anywhere in any CLI output (text, JSON, terminal, failures, --config)', async (t) => {
  const module = join(dir, 'leak.config.mjs')
  writeFileSync(module, `export default {
    provider: 'local',
    secrets: { jwtKey: 'jwt-key', mem: 'mem-key', db: 'db', nope: 'nope', host: 'db#host' },
    local: { file: ${JSON.stringify(file)}, values: { 'mem-key': ${JSON.stringify(values.inMemory)} } },
    checks: { custom: { fails: async (cloud) => { throw new Error('check failed for ' + cloud.identity.provider) } } }
  }\n`)
  const runs: CliRun[] = await Promise.all([
    runCli(['doctor'], healthy),
    runCli(['doctor', '--json'], healthy),
    runCli(['doctor'], failing),
    runCli(['doctor', '--json'], failing),
    runCli(['doctor', '--config', module]),
    runCli(['doctor', '--json', '--config', module]),
    runCli(['policy'], healthy),
    runCli(['policy', '--json', '--config', module]),
    runCli(['doctor'], { ...failing, CLOUD_SECRETS_REFRESH_MS: '5' }),
    runCli(['doctor', '--json'], { ...healthy, CLOUD_SECRETS: `${failing.CLOUD_SECRETS}, bad=a b` })
  ])
  if (HAS_SCRIPT) runs.push(await runCliOnTty(['doctor'], failing), await runCliOnTty(['policy'], healthy))
  const seen = runs.map((r) => r.stdout + r.stderr).join('\n')
  t.match(parseJson(runs[1]).secrets, [{ alias: 'jwtKey', bytes: values.jwt.length }], 'the scan covers runs that loaded the values')
  assertNoLeak(t, seen, [...Object.values(values), dbJson], 'every stdout and stderr of the CLI')
  t.notOk(seen.includes('LOOPBACK GUARD'), 'no connection left loopback')
})
