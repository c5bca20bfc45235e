import { execFile } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { test } from 'tap'
import { startGcpFakes, writeServiceAccountKey, type GcpFakes } from '../fakes/gcp/index.js'
import { randomSecret } from '../helpers/capture.js'
import { distChildEnv, nodeCommand } from '../helpers/child-env.js'
import { SA_EMAIL, start, withEnv } from './helpers.js'

// On a serverless runtime the metadata server's token and email requests are sent by the plugin
// before it imports the SDK (src/providers/gcp/credentials/early-metadata.ts), so their round trip
// rides beside the import; the metadata credential takes each answer once, when it is one it would
// accept, else asks again and reports as always.

const root = fileURLToPath(new URL('../..', import.meta.url))
const probe = fileURLToPath(new URL('../helpers/probe-early-request.mjs', import.meta.url))
const TOKEN = 'instance/service-accounts/default/token'
const EMAIL = 'instance/service-accounts/default/email'
const SDK_PACKAGES = '@google-cloud/,google-gax/,google-auth-library/,@grpc/'
let fakes: GcpFakes
const value = randomSecret('early')

test('setup', async () => {
  fakes = await startGcpFakes()
  fakes.world.addSecret('projects/demo-project/secrets/db', value)
  fakes.world.allowAccess(fakes.world.metadataIdentity.email, 'projects/demo-project/secrets/db')
})

function runtimeEnv (): Record<string, string> {
  return { ...fakes.env, K_SERVICE: 'api', GCE_METADATA_HOST: fakes.metadata.host, GOOGLE_CLOUD_PROJECT: 'demo-project', CLOUDSDK_CONFIG: mkdtempSync(join(tmpdir(), 'fcs-gcloud-none-')), CLOUD_SECRETS_PROVIDER: 'gcp', CLOUD_SECRETS: 'db=db', CLOUD_SECRETS_TIMEOUT_MS: '9000' }
}

async function probedBoot (extra: string[] = []): Promise<{ result: { error?: string, source?: string, secrets: number }, seen: { path?: string, sdkModules?: number } }> {
  const env = distChildEnv(runtimeEnv(), { PROBE_PATH: `/computeMetadata/v1/${TOKEN}`, PROBE_PACKAGES: SDK_PACKAGES })
  const [command, args] = nodeCommand(['--import', probe, ...extra, 'bench/apps/boot.mjs', 'plugin'], env)
  const { stdout, stderr } = await promisify(execFile)(command, args, { cwd: root, env, encoding: 'utf8' })
  return { result: JSON.parse(stdout.trim().split('\n').pop() as string), seen: JSON.parse(/^PROBE (.*)$/m.exec(stderr)?.[1] ?? '{}') }
}

test('Cloud Run: the token request leaves before any module of the SDK is loaded; one token and one email request per boot', async (t) => {
  const before = { token: fakes.world.counters.metadata.get(TOKEN) ?? 0, email: fakes.world.counters.metadata.get(EMAIL) ?? 0 }
  const { result, seen } = await probedBoot()
  t.equal(result.error, undefined, 'booted')
  t.equal(result.source, 'gcp:metadata')
  t.equal(result.secrets, 1)
  t.equal(seen.path, `/computeMetadata/v1/${TOKEN}`, 'the probe saw the token request')
  t.equal(seen.sdkModules, 0, 'no module of @google-cloud/, google-gax, google-auth-library or grpc-js was loaded when it left')
  t.equal((fakes.world.counters.metadata.get(TOKEN) ?? 0) - before.token, 1, 'one token request')
  t.equal((fakes.world.counters.metadata.get(EMAIL) ?? 0) - before.email, 1, 'one email request')
})

test('control: the probe does count the SDK\'s modules when they were loaded first', async (t) => {
  const { seen } = await probedBoot(['--require', '@google-cloud/secret-manager'])
  t.ok((seen.sdkModules ?? 0) > 0, `the probe counted ${seen.sdkModules ?? 0} modules`)
})

test('an early answer the credential would not take (503) is dropped: the credential asks again, the boot succeeds', async (t) => {
  withEnv(t, runtimeEnv())
  const before = (fakes.world.counters.metadata.get(TOKEN) ?? 0) + (fakes.world.counters.metadata.get(EMAIL) ?? 0)
  fakes.world.faults.metadata.failures = [503]
  t.teardown(() => { fakes.world.faults.metadata = {} })
  const { app, error } = await start(t)
  t.error(error)
  t.equal(app.secrets?.db, value)
  const after = (fakes.world.counters.metadata.get(TOKEN) ?? 0) + (fakes.world.counters.metadata.get(EMAIL) ?? 0)
  t.equal(after - before, 3, 'the two early requests (one failed), then the one the credential asked again')
})

test('a key file (GOOGLE_APPLICATION_CREDENTIALS) on Cloud Run: no early metadata request', async (t) => {
  const key = writeServiceAccountKey(fakes.world, SA_EMAIL)
  fakes.world.allowAccess(SA_EMAIL, 'projects/demo-project/secrets/db')
  withEnv(t, { ...runtimeEnv(), GOOGLE_APPLICATION_CREDENTIALS: key.file })
  const before = [...fakes.world.counters.metadata.values()].reduce((a, b) => a + b, 0)
  const { app, error } = await start(t)
  t.error(error)
  t.equal(app.cloud?.identity.source, 'gcp:service-account-key')
  t.equal([...fakes.world.counters.metadata.values()].reduce((a, b) => a + b, 0), before, 'the metadata server was not asked')
})

test('teardown', async () => { await fakes.close() })
