import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { test } from 'tap'
import { FakeContainerCredentials, startAwsFakes, type AwsFakes } from '../fakes/aws/index.js'
import { distChildEnv, nodeCommand } from '../helpers/child-env.js'
import { loopbackViolations, setEnv, startApp, tempFiles } from './helpers.js'

// Container credentials (ECS task role, EKS Pod Identity) are asked for by the plugin itself
// before the SDK is imported (src/providers/aws/early-container.ts), so that round trip rides
// beside the import. The chain takes that answer once, when it is one the SDK's fromHttp would
// accept; anything else is dropped and the SDK's own source asks again and reports.

const root = fileURLToPath(new URL('../..', import.meta.url))
const probe = fileURLToPath(new URL('../helpers/probe-early-request.mjs', import.meta.url))
const ROLE = 'arn:aws:sts::123456789012:assumed-role/task-role/early'
const READ = ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue']
let fakes: AwsFakes
let container: FakeContainerCredentials

test('setup', async () => {
  fakes = await startAwsFakes()
  fakes.world.putSecret('app/jwt', 'jwt-value-early-0123')
  container = await new FakeContainerCredentials(fakes.world, { principal: ROLE, allow: READ }).start()
})

test('a fresh process sends the container-credentials request before it loads any @aws-sdk module, and asks once', async (t) => {
  const before = container.count('credentials')
  const env = distChildEnv(fakes.env, { CLOUD_SECRETS_PROVIDER: 'aws', CLOUD_SECRETS: 'jwt=app/jwt', AWS_CONTAINER_CREDENTIALS_FULL_URI: container.fullUri, PROBE_PATH: container.path, CLOUD_SECRETS_TIMEOUT_MS: '9000' })
  const [command, args] = nodeCommand(['--import', probe, 'bench/apps/boot.mjs', 'plugin'], env)
  const { stdout, stderr } = await promisify(execFile)(command, args, { cwd: root, env, encoding: 'utf8' })
  const result = JSON.parse(stdout.trim().split('\n').pop() as string) as { error?: string, source?: string, secrets: number }
  t.equal(result.error, undefined, 'booted')
  t.equal(result.source, 'aws:container')
  t.equal(result.secrets, 1)
  const line = /^PROBE (.*)$/m.exec(stderr)?.[1]
  t.ok(line !== undefined, 'the probe saw the container-credentials request')
  const seen = JSON.parse(line ?? '{}') as { path?: string, sdkModules?: number }
  t.equal(seen.path, container.path)
  t.equal(seen.sdkModules, 0, 'no @aws-sdk module was loaded when the request left')
  t.equal(container.count('credentials') - before, 1, 'one credential request for the boot')
})

test('control: the probe does count @aws-sdk modules loaded before the request', async (t) => {
  // the same boot, with the SDK preloaded by the command line: the probe must see it
  const env = distChildEnv(fakes.env, { CLOUD_SECRETS_PROVIDER: 'aws', CLOUD_SECRETS: 'jwt=app/jwt', AWS_CONTAINER_CREDENTIALS_FULL_URI: container.fullUri, PROBE_PATH: container.path, CLOUD_SECRETS_TIMEOUT_MS: '9000' })
  const [command, args] = nodeCommand(['--import', probe, '--require', '@aws-sdk/client-secrets-manager', 'bench/apps/boot.mjs', 'plugin'], env)
  const { stderr } = await promisify(execFile)(command, args, { cwd: root, env, encoding: 'utf8' })
  const seen = JSON.parse(/^PROBE (.*)$/m.exec(stderr)?.[1] ?? '{}') as { sdkModules?: number }
  t.ok((seen.sdkModules ?? 0) > 0, `the probe counted ${seen.sdkModules ?? 0} modules`)
})

test('an early answer the SDK would not take (429) is dropped: the SDK asks again, the boot succeeds', async (t) => {
  setEnv(t, { ...fakes.env, AWS_CONTAINER_CREDENTIALS_FULL_URI: container.fullUri })
  const before = container.count('credentials')
  container.faults = { throttles: 1 }
  t.teardown(() => { container.faults = {} })
  const { app, error } = await startApp(t, { secrets: { jwt: 'app/jwt' } })
  t.error(error)
  t.equal(app.secrets?.jwt, 'jwt-value-early-0123')
  t.equal(app.cloud?.identity.source, 'aws:container')
  t.equal(container.count('credentials') - before, 2, 'the early request (throttled), then the SDK\'s own')
})

test('a token the container endpoint refuses: the same coded error as without the early request, from the SDK\'s own ask', async (t) => {
  const guarded = await new FakeContainerCredentials(fakes.world, { principal: ROLE, allow: READ, token: 'right-token' }).start()
  t.teardown(() => guarded.close())
  const dir = tempFiles({ token: 'wrong-token' })
  setEnv(t, { ...fakes.env, AWS_CONTAINER_CREDENTIALS_FULL_URI: guarded.fullUri, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: join(dir, 'token') })
  const { error } = await startApp(t, { secrets: { jwt: 'app/jwt' } })
  t.equal(error?.code, 'FST_CLOUD_SECRETS_NO_CREDENTIALS')
  t.match(error?.message, /aws:container .*applied but failed: .*status: 403.*AccessDenied/s, 'the reason is the SDK\'s, with the endpoint\'s code')
  // without the early request the SDK asks 3 times here (fromHttp, the chain's legacy container
  // fallback, and the second ask that explains the failure): the early request adds one
  t.equal(guarded.count('credentials'), 4, 'the early request, then the SDK\'s own three')

  writeFileSync(join(dir, 'token'), 'right-token')
  const ok = await startApp(t, { secrets: { jwt: 'app/jwt' } })
  t.error(ok.error, 'the token file is read for the early request too')
  t.equal(guarded.count('credentials'), 5, 'and then one request')
})

test('a container URL fromHttp refuses gets no early request (nothing leaves loopback), and the SDK\'s refusal', async (t) => {
  setEnv(t, { ...fakes.env, AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://192.0.2.10:9/creds' })
  const { error } = await startApp(t, { secrets: { jwt: 'app/jwt' } })
  t.equal(error?.code, 'FST_CLOUD_SECRETS_NO_CREDENTIALS')
  t.match(error?.message, /URL not accepted/)
  t.same(loopbackViolations(), [], 'no connection was attempted to 192.0.2.10')
})

test('teardown', async () => { await Promise.all([fakes.close(), container.close()]) })
