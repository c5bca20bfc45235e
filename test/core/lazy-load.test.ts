import { test } from 'tap'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const recorder = fileURLToPath(new URL('../helpers/record-loads.mjs', import.meta.url))

function boot (env: Record<string, string>): { provider: string, sdksLoaded: string[] } {
  const out = execFileSync(process.execPath, ['--import', recorder, 'bench/apps/boot.mjs', 'plugin'], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8' })
  return JSON.parse(out.trim().split('\n').pop() as string)
}

test('provider local loads no cloud SDK at all', (t) => {
  const result = boot({ CLOUD_SECRETS_PROVIDER: 'local', CLOUD_SECRETS: '' })
  t.equal(result.provider, 'local')
  t.same(result.sdksLoaded, [], 'no @aws-sdk, @azure, @google-cloud, google-gax or google-auth-library module was loaded')
  t.end()
})

test('control: the recorder does see an SDK when one is imported', (t) => {
  const out = execFileSync(process.execPath, ['--import', recorder, 'bench/apps/import-sdk.mjs', '@aws-sdk/client-secrets-manager'], { cwd: root, encoding: 'utf8' })
  t.same(JSON.parse(out).sdksLoaded, ['@aws-sdk/'])
  t.end()
})
