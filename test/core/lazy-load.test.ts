import { test } from 'tap'
import { fileURLToPath } from 'node:url'
import { distChildEnv, execNodeSync } from '../helpers/child-env.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const recorder = fileURLToPath(new URL('../helpers/record-loads.mjs', import.meta.url))

interface Boot { provider: string, error?: string, sdksLoaded: string[] }

/** Boots bench/apps/boot.mjs (the built plugin, env only) in a fresh process; exits 0 even when startup fails. */
function boot (env: Record<string, string>): Boot {
  const out = execNodeSync(['--import', recorder, 'bench/apps/boot.mjs', 'plugin'], { cwd: root, env: distChildEnv(env), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  return JSON.parse(out.trim().split('\n').pop() as string) as Boot
}

test('provider local loads no cloud SDK at all', (t) => {
  const result = boot({ CLOUD_SECRETS_PROVIDER: 'local', CLOUD_SECRETS: '' })
  t.equal(result.provider, 'local')
  t.same(result.sdksLoaded, [], 'no @aws-sdk, @azure, @google-cloud, google-gax or google-auth-library module was loaded')
  t.end()
})

// Each cloud is configured so that startup reaches the provider (and so its SDK import), then
// fails fast with no credentials: nothing answers on loopback port 9, IMDS probes are off.
const clouds: Array<{ name: string, env: Record<string, string>, own: string[] }> = [
  { name: 'aws', env: { AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' }, own: ['@aws-sdk/'] },
  { name: 'azure', env: { AZURE_KEYVAULT_URL: 'https://bench.vault.azure.net', AZURE_POD_IDENTITY_AUTHORITY_HOST: 'http://127.0.0.1:9' }, own: ['@azure/'] },
  { name: 'gcp', env: { GOOGLE_CLOUD_PROJECT: 'demo-project', METADATA_SERVER_DETECTION: 'none' }, own: ['@google-cloud/', 'google-gax', 'google-auth-library'] }
]

for (const cloud of clouds) {
  test(`provider ${cloud.name} loads its own SDK and no other cloud's`, (t) => {
    const result = boot({ ...cloud.env, CLOUD_SECRETS_PROVIDER: cloud.name, CLOUD_SECRETS: 'db=bench-db', CLOUD_SECRETS_TIMEOUT_MS: '5000' })
    t.equal(result.error, 'FST_CLOUD_SECRETS_NO_CREDENTIALS', 'startup got as far as the credential chain')
    t.same(result.sdksLoaded, cloud.own, `only ${cloud.own.join(', ')} loaded`)
    t.end()
  })
}

test('control: the recorder does see an SDK when one is imported', (t) => {
  const out = execNodeSync(['--import', recorder, 'bench/apps/import-sdk.mjs', '@aws-sdk/client-secrets-manager'], { cwd: root, env: distChildEnv(), encoding: 'utf8' })
  t.same(JSON.parse(out).sdksLoaded, ['@aws-sdk/'])
  t.end()
})
