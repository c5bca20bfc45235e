import { once } from 'node:events'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createRequire } from 'node:module'
import Fastify from 'fastify'
import { test, type Test } from 'tap'
import cloudSecrets, { type CloudSecretsOptions } from '../../src/index.js'
import { kInternal } from '../../src/plugin.js'
import type { RefreshClock } from '../../src/refresh/schedule.js'
import { startAwsFakes, type AwsFakes } from '../fakes/aws/index.js'
import { assertNoLeak, captureLogs, randomSecret } from '../helpers/capture.js'
import { loopbackViolations, setEnv } from './helpers.js'
import { distChildEnv, spawnNode } from '../helpers/child-env.js'

const USER = 'arn:aws:iam::123456789012:user/close'
const READ_ALL = ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue']
let fakes: AwsFakes

test('setup', async () => { fakes = await startAwsFakes() })

function credentials (t: Test): Record<string, string | undefined> {
  const keys = fakes.world.issue(USER, READ_ALL, { session: false })
  const env = { ...fakes.env, AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey }
  setEnv(t, env)
  fakes.sm.faults = {}
  return env
}

/** real (unref'd) timers, with a count of the ones armed and neither fired nor cleared */
function trackingClock (): RefreshClock & { live: () => number } {
  const live = new Set<NodeJS.Timeout>()
  return {
    now: () => Date.now(),
    setTimeout: (fn, ms) => {
      const handle: NodeJS.Timeout = setTimeout(() => { live.delete(handle); fn() }, ms).unref()
      live.add(handle)
      return handle
    },
    clearTimeout: (handle) => { live.delete(handle as NodeJS.Timeout); clearTimeout(handle as NodeJS.Timeout) },
    live: () => live.size
  }
}

async function connectionsGone (): Promise<number> {
  // the client side destroyed its sockets; the server sees each close a moment later
  for (let i = 0; i < 200 && fakes.sm.openConnections > 0; i++) await new Promise((resolve) => setImmediate(resolve))
  return fakes.sm.openConnections
}

test('aws with refresh on: after close() no connection to the store stays open and no refresh timer is armed', async (t) => {
  const first = randomSecret('close1')
  const second = randomSecret('close2')
  fakes.world.putSecret('close/a', first)
  credentials(t)
  const clock = trackingClock()
  const logs = captureLogs('debug')
  const app = Fastify({ logger: logs.logger, pluginTimeout: 20_000 })
  t.teardown(async () => { await app.close() })
  await app.register(cloudSecrets, { provider: 'aws', timeoutMs: 5000, refresh: 1000, secrets: { a: 'close/a' }, [kInternal]: { retry: { baseDelayMs: 5, maxDelayMs: 40 }, refresh: { clock, random: () => 0.9 } } } as CloudSecretsOptions)
  await app.ready()
  const refresh = app.cloud.refresh
  if (refresh === undefined) throw new Error('refresh is on')
  t.equal(clock.live(), 1, 'the schedule arms one timer on ready')

  // a scheduled cycle over the wire: the store connection is in use by refresh, not only boot
  const secret = fakes.world.secrets.get('close/a')
  if (secret === undefined) throw new Error('no secret')
  for (const v of secret.versions) v.stages = v.stages.filter((s) => s !== 'AWSCURRENT')
  secret.versions.push({ id: randomUUID(), stages: ['AWSCURRENT'], string: second })
  const keepAlive = setInterval(() => {}, 60_000) // the refresh timers are unref'd: hold the loop while waiting
  t.teardown(() => clearInterval(keepAlive))
  await once(refresh as never, 'rotated')
  t.equal(app.secrets.a, second)
  t.ok(fakes.sm.openConnections > 0, `a keep-alive connection to the store is open after a refresh cycle (${fakes.sm.openConnections})`)

  // and a cycle in flight at close(): the store holds the request
  fakes.sm.faults = { hang: true }
  const pending = refresh.now()
  for (let i = 0; i < 200 && fakes.sm.hanging === 0; i++) await new Promise((resolve) => setImmediate(resolve))
  t.equal(fakes.sm.hanging, 1, 'one refresh request held by the store')
  await app.close()
  t.match(await pending, { rotated: [] }, 'the cycle in flight settles after close()')
  t.equal(clock.live(), 0, 'no refresh timer is armed after close()')
  t.equal(await connectionsGone(), 0, 'every store connection (the hung one included) is closed after close()')
  assertNoLeak(t, logs.text(), [...fakes.world.sensitive(), first, second], 'refresh and close logs')
  t.same(loopbackViolations(), [])
})

test('aws with refresh on: the process exits by itself after close(), with a cycle in flight', async (t) => {
  fakes.world.putSecret('close/b', randomSecret('closeb'))
  const env = credentials(t)
  const dist = pathToFileURL(resolve('dist/index.js')).href
  const fastify = pathToFileURL(createRequire(import.meta.url).resolve('fastify')).href
  const dir = mkdtempSync(join(tmpdir(), 'fcs-aws-exit-'))
  const file = join(dir, 'app.mjs')
  writeFileSync(file, `import Fastify from '${fastify}'
import cloudSecrets from '${dist}'
const app = Fastify()
await app.register(cloudSecrets, { provider: 'aws', secrets: { b: 'close/b' }, refresh: 1000, timeoutMs: 5000 })
await app.ready()
console.log('cycle', JSON.stringify(await app.cloud.refresh.now()))
process.stdin.once('data', async () => {
  const pending = app.cloud.refresh.now()
  await app.close()
  console.log('closed', JSON.stringify(await pending))
  process.stdin.destroy()
})
console.log('waiting')
`)
  const guard = pathToFileURL(resolve('test/helpers/loopback-guard.mjs')).href
  const args = (process.env.NODE_OPTIONS ?? '').includes('loopback-guard') ? [file] : [`--import=${guard}`, file]
  const child = spawnNode(args, { cwd: process.cwd(), env: distChildEnv(env, { CLOUD_SECRETS_REFRESH_MS: '' }), stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  child.stderr.on('data', (d: Buffer) => { out += d.toString() })
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('waiting')) resolve()
    })
    exited.then(() => resolve(), () => resolve())
  })
  t.match(out, /cycle \{"rotated":\[\],"failed":\[\]\}/, 'a refresh cycle ran over the wire in the child')
  fakes.sm.faults = { hang: true }
  child.stdin.write('close\n')
  t.equal(await exited, 0, out)
  t.match(out, /closed \{"rotated":\[\]/, 'close() settled the cycle in flight and nothing held the process')
  fakes.sm.faults = {}
})

test('teardown', async () => { await fakes.close() })
