import { test } from 'tap'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { azTokenOutput, fakeCli, randomPrincipal, startAzureWorld } from '../fakes/azure/index.js'
import { distChildEnv, execNodeSync, nodeCommand } from '../helpers/child-env.js'

const root = fileURLToPath(new URL('../..', import.meta.url))
const recorder = fileURLToPath(new URL('../helpers/record-loads.mjs', import.meta.url))

interface Boot { provider: string, source?: string, error?: string, sdksLoaded: string[], packagesLoaded: string[], modules?: string[] }

/** Boots bench/apps/boot.mjs (the built plugin, env only) in a fresh process; exits 0 even when startup fails. */
function boot (env: Record<string, string>): Boot {
  const out = execNodeSync(['--import', recorder, 'bench/apps/boot.mjs', 'plugin'], { cwd: root, env: distChildEnv(env), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  return JSON.parse(out.trim().split('\n').pop() as string) as Boot
}

/** The same boot without blocking this process, whose fakes must answer the child. */
async function bootAsync (env: Record<string, string>): Promise<Boot> {
  const childEnv = distChildEnv(env)
  const [command, args] = nodeCommand(['--import', recorder, 'bench/apps/boot.mjs', 'plugin'], childEnv)
  const { stdout } = await promisify(execFile)(command, args, { cwd: root, env: childEnv, encoding: 'utf8' })
  return JSON.parse(stdout.trim().split('\n').pop() as string) as Boot
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
  // AWS's environment / container links and its startup calls (wire.ts) are the plugin's own code; a
  // profile, SSO, web identity or IMDS link loads its SDK source (test/aws/*), app.cloud.aws.secretsManager the client
  { name: 'aws', env: { AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' }, own: [] },
  // Azure's IMDS, az and azd links and its Key Vault reads are the plugin's own code: no @azure module at all
  { name: 'azure', env: { AZURE_KEYVAULT_URL: 'https://bench.vault.azure.net', AZURE_POD_IDENTITY_AUTHORITY_HOST: 'http://127.0.0.1:9' }, own: [] },
  { name: 'gcp', env: { GOOGLE_CLOUD_PROJECT: 'demo-project', METADATA_SERVER_DETECTION: 'none' }, own: ['google-auth-library'] }
]

for (const cloud of clouds) {
  test(`provider ${cloud.name} loads its own SDK and no other cloud's`, (t) => {
    const result = boot({ ...cloud.env, CLOUD_SECRETS_PROVIDER: cloud.name, CLOUD_SECRETS: 'db=bench-db', CLOUD_SECRETS_TIMEOUT_MS: '5000' })
    t.equal(result.error, 'FST_CLOUD_SECRETS_NO_CREDENTIALS', 'startup got as far as the credential chain')
    t.same(result.sdksLoaded, cloud.own, cloud.own.length > 0 ? `only ${cloud.own.join(', ')} loaded` : 'no SDK loaded')
    if (cloud.name === 'azure') t.notOk(result.packagesLoaded.includes('@azure/identity'), 'a chain of IMDS, az and azd (all unavailable) never loads @azure/identity')
    t.end()
  })
}

test('gcp loads no Secret Manager client and no google-gax at startup (the reads are grpc-js, the token google-auth-library)', (t) => {
  const result = boot({ ...clouds[2].env, CLOUD_SECRETS_PROVIDER: 'gcp', CLOUD_SECRETS: 'db=bench-db', CLOUD_SECRETS_TIMEOUT_MS: '5000', BOOT_LIST_MODULES: '/node_modules/' })
  t.equal(result.error, 'FST_CLOUD_SECRETS_NO_CREDENTIALS', 'startup got as far as the credential chain')
  t.ok(result.packagesLoaded.includes('google-auth-library'), 'google-auth-library loaded')
  t.ok(result.packagesLoaded.includes('@grpc/grpc-js'), 'grpc-js loaded')
  t.notOk(result.packagesLoaded.includes('google-gax'), 'google-gax not loaded')
  t.notOk(result.packagesLoaded.includes('@google-cloud/secret-manager'), 'the Secret Manager client not loaded')
  t.end()
})

// Azure: managed identity over App Service / IMDS and the az / azd CLIs are the plugin's own code,
// and so are the startup's Key Vault reads (vault-reader.ts): a boot that wins with them loads no
// @azure package at all; a service principal (or workload identity) is @azure/identity's, and loads
// it and the pipeline it sends through, still not @azure/keyvault-secrets (built on first use of
// app.cloud.azure.secretClient(), test/azure/keyvault.test.ts).
test('azure loads no Key Vault SDK at startup, and @azure/identity only on the identity paths that are its credentials', async (t) => {
  const world = await startAzureWorld()
  t.teardown(world.close)
  world.keyvault.setSecret(world.vault, 'db-password', 'lazy-load-value')
  const sp = randomPrincipal({ tid: world.tenant })
  world.entra.addApp({ principal: sp, secret: 'lazy-load-client-secret' })
  const user = randomPrincipal({ tid: world.tenant, idtyp: 'user', upn: 'dev@contoso.example' })
  for (const p of [world.systemMi, sp, user]) world.vault.readers.add(p.oid)
  const minted = world.tokens.mint(user, 'https://vault.azure.net')
  const az = fakeCli('az', { stdout: azTokenOutput(minted.token, minted.exp, world.tenant) })
  const base = { ...world.redirectEnv(), CLOUD_SECRETS_PROVIDER: 'azure', AZURE_KEYVAULT_URL: 'https://myvault.vault.azure.net', CLOUD_SECRETS: 'db=db-password', CLOUD_SECRETS_TIMEOUT_MS: '9000', AZURE_POD_IDENTITY_AUTHORITY_HOST: world.imdsNoIdentity.host }
  const paths: Array<{ name: string, env: Record<string, string>, source: string, identitySdk: boolean }> = [
    { name: 'App Service managed identity', env: world.appService.env(), source: 'azure:managed-identity', identitySdk: false },
    { name: 'IMDS managed identity', env: { AZURE_POD_IDENTITY_AUTHORITY_HOST: world.imds.host }, source: 'azure:managed-identity', identitySdk: false },
    { name: 'az CLI', env: { PATH: `${az.dir}:${process.env.PATH ?? ''}` }, source: 'azure:cli', identitySdk: false },
    { name: 'service principal (client secret)', env: { AZURE_TENANT_ID: world.tenant, AZURE_CLIENT_ID: sp.appid as string, AZURE_CLIENT_SECRET: 'lazy-load-client-secret' }, source: 'azure:environment', identitySdk: true }
  ]
  for (const path of paths) {
    const result = await bootAsync({ ...base, ...path.env })
    t.equal(result.error, undefined, `${path.name}: booted`)
    t.equal(result.source, path.source, `${path.name}: the identity came from ${path.source}`)
    t.notOk(result.packagesLoaded.includes('@azure/keyvault-secrets'), `${path.name}: Key Vault's SDK not loaded`)
    t.equal(result.packagesLoaded.includes('@azure/core-rest-pipeline'), path.identitySdk, `${path.name}: the Azure pipeline ${path.identitySdk ? 'loaded' : 'not loaded'}`)
    t.equal(result.packagesLoaded.includes('@azure/identity'), path.identitySdk, `${path.name}: @azure/identity ${path.identitySdk ? 'loaded' : 'not loaded'}`)
    t.equal(result.packagesLoaded.includes('@azure/msal-node'), path.identitySdk, `${path.name}: MSAL ${path.identitySdk ? 'loaded' : 'not loaded'}`)
  }
})

test('control: the recorder does see an SDK when one is imported', (t) => {
  const out = execNodeSync(['--import', recorder, 'bench/apps/import-sdk.mjs', '@aws-sdk/client-secrets-manager'], { cwd: root, env: distChildEnv(), encoding: 'utf8' })
  t.same(JSON.parse(out).sdksLoaded, ['@aws-sdk/'])
  t.end()
})
