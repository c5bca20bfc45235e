import { test } from 'tap'
import { randomPrincipal, startAzureWorld, type AzureWorld } from '../fakes/azure/index.js'
import { assertNoLeak, randomSecret } from '../helpers/capture.js'
import { parseJson, type CliRun, recordingCli, startupError } from './run.js'

// doctor and policy (the CLI's main(), in this process: test/cli/run.ts runCliInProcess) against the Azure fakes (production hostnames through the
// loopback guard's FCS_TEST_REDIRECT, test CA), with the env the Azure provider tests use.

let world: AzureWorld
let base: Record<string, string>
const outputs: CliRun[] = []
const values = { api: randomSecret('api'), password: randomSecret('pw') }
const dbJson = JSON.stringify({ user: 'app', password: values.password })

const cli = recordingCli(outputs)

test('setup', async (t) => {
  world = await startAzureWorld()
  world.keyvault.setSecret(world.vault, 'api-key', values.api)
  world.keyvault.setSecret(world.vault, 'db', dbJson)
  world.keyvault.setSecret(world.vault, 'locked', randomSecret('locked'))
  world.vault.readers.add(world.systemMi.oid)
  base = {
    ...world.redirectEnv(),
    ...world.appService.env(),
    WEBSITE_SITE_NAME: 'my-app',
    CLOUD_SECRETS_PROVIDER: 'azure',
    AZURE_KEYVAULT_URL: 'https://myvault.vault.azure.net',
    CLOUD_SECRETS_TIMEOUT_MS: '6000'
  }
  t.pass('fakes started')
  // in process, the SDK's first import happens here, outside every deadline that follows (a child paid it before its clock started)
  const warm = await cli(['doctor', '--json'], { ...base, CLOUD_SECRETS: 'apiKey=api-key', CLOUD_SECRETS_TIMEOUT_MS: '60000' })
  t.equal(warm.code, 0, `warm-up run: ${warm.stdout.slice(0, 300)}`)
})

test('healthy: App Service managed identity reads every secret → exit 0, identity and per-secret facts', async (t) => {
  const run = await cli(['doctor'], { ...base, CLOUD_SECRETS: 'apiKey=api-key, dbPassword=db#password' })
  t.equal(run.code, 0, 'exit 0')
  t.match(run.stdout, /platform\s+app-service/)
  t.match(run.stdout, /provider\s+azure\s+chosen by CLOUD_SECRETS_PROVIDER/)
  t.match(run.stdout, /Identity \(azure\)\s+ok\n {2}credential sources tried, in order:\n/)
  t.match(run.stdout, /ok\s+azure:managed-identity\s+ManagedIdentityCredential: token for https:\/\/vault\.azure\.net\/\.default/)
  t.match(run.stdout, /source\s+azure:managed-identity/)
  t.match(run.stdout, new RegExp(`principal\\s+${world.systemMi.oid}`))
  t.match(run.stdout, /expires\s+\d{4}-\d\d-\d\dT\S+ \(in \d+ min\)/)
  t.match(run.stdout, new RegExp(`ok\\s+apiKey\\s+store keyvault:myvault\\.vault\\.azure\\.net, version \\w+, ${values.api.length} bytes, \\d+ ms`))
  t.match(run.stdout, new RegExp(`ok\\s+dbPassword\\s+store .*${values.password.length} bytes`))
  t.match(run.stdout, /Result: the app would start/)

  const json = await cli(['doctor', '--json'], { ...base, CLOUD_SECRETS: 'apiKey=api-key' })
  t.equal(json.code, 0)
  t.match(parseJson(json), {
    ok: true,
    platform: 'app-service',
    markers: [{ provider: 'azure', marker: String }],
    providers: [{ name: 'azure', status: 'ok', attempts: Array, identity: { provider: 'azure', source: 'azure:managed-identity', principal: world.systemMi.oid, tenant: world.tenant, expiresAt: String } }],
    secrets: [{ alias: 'apiKey', status: 'ok', bytes: values.api.length, version: String }]
  })
})

test('denied: ACCESS_DENIED with the exact az role assignment, the same fix as the startup error; missing: NOT_FOUND', async (t) => {
  const other = randomPrincipal({ tid: world.tenant })
  world.appService.identities.user?.set(other.appid as string, other)
  const env = { ...base, AZURE_CLIENT_ID: other.appid as string, CLOUD_SECRETS: 'locked=locked, gone=does-not-exist' }
  const run = await cli(['doctor', '--json'], env)
  t.equal(run.code, 1)
  const doc = parseJson(run)
  const locked = doc.secrets.find((s: { alias: string }) => s.alias === 'locked')
  t.match(locked, { status: 'failed', error: { code: 'FST_CLOUD_SECRETS_ACCESS_DENIED', principal: other.oid, permission: 'Key Vault Secrets User' } })
  t.match(locked.error.fix, `az role assignment create --assignee-object-id ${other.oid} --assignee-principal-type ServicePrincipal --role "Key Vault Secrets User"`)
  // the reader identity has no access to `does-not-exist` either: Key Vault answers 403 before 404
  const gone = doc.secrets.find((s: { alias: string }) => s.alias === 'gone')
  t.equal(gone.status, 'failed')

  // the plugin, same env (the SDK reads process.env), restored before the next child runs
  const err = await startupError(env)
  const startup = err?.errors?.find((e) => e.alias === 'locked')
  t.equal(startup?.code, 'FST_CLOUD_SECRETS_ACCESS_DENIED')
  t.equal(locked.error.fix, startup?.fix, 'doctor prints the fix the startup error carries')
  t.equal(locked.error.summary, startup?.summary)

  const text = await cli(['doctor'], env)
  t.equal(text.code, 1)
  t.ok(text.stdout.includes(`fix: ${startup?.fix.split('\n')[0] ?? '?'}`), 'the text output prints the fix')
  t.match(text.stdout, /FAILED\s+locked\s+azure:locked\n\s+FST_CLOUD_SECRETS_ACCESS_DENIED — The principal is not allowed to read a secret/)

  const missing = await cli(['doctor'], { ...base, CLOUD_SECRETS: 'apiKey=api-key, gone=does-not-exist' })
  t.equal(missing.code, 1)
  t.match(missing.stdout, /ok\s+apiKey/)
  t.match(missing.stdout, /FAILED\s+gone\s+azure:does-not-exist\n\s+FST_CLOUD_SECRETS_NOT_FOUND/)
  t.match(missing.stdout, /fix: .*az keyvault secret set --vault-name myvault --name does-not-exist/)
})

test('no credentials: each source tried with its reason, the az login fix, secrets not asked → exit 1', async (t) => {
  const env = { ...world.redirectEnv(), CLOUD_SECRETS_PROVIDER: 'azure', AZURE_KEYVAULT_URL: 'https://myvault.vault.azure.net', CLOUD_SECRETS: 'apiKey=api-key', AZURE_POD_IDENTITY_AUTHORITY_HOST: world.imdsNoIdentity.host, CLOUD_SECRETS_TIMEOUT_MS: '6000' }
  const run = await cli(['doctor'], env)
  t.equal(run.code, 1)
  t.match(run.stdout, /Identity \(azure\)\s+FAILED/)
  for (const source of ['azure:environment', 'azure:workload-identity', 'azure:managed-identity', 'azure:cli', 'azure:developer-cli']) {
    t.match(run.stdout, new RegExp(`skipped\\s+${source}\\s+\\S`), `${source} listed with its reason`)
  }
  t.match(run.stdout, /FST_CLOUD_SECRETS_NO_CREDENTIALS/)
  t.match(run.stdout, /fix: .*az login/)
  t.match(run.stdout, /skipped\s+apiKey\s+not asked: provider azure has no identity/)
  t.match(run.stdout, /no identity for azure/)
  const json = parseJson(await cli(['doctor', '--json'], env))
  t.match(json.providers[0], { status: 'failed', error: { code: 'FST_CLOUD_SECRETS_NO_CREDENTIALS', fix: /az login/ } })
  t.equal(json.providers[0].attempts.length, 5)
})

test('hung: Key Vault or the identity endpoint never answers → TIMEOUT naming the step, exit 1 within the deadline', async (t) => {
  // long enough that importing the SDK (inside the deadline) fits even on a loaded machine
  const deadline = 4000
  world.keyvault.faults.hang = true
  const kv = await cli(['doctor', '--json'], { ...base, CLOUD_SECRETS_TIMEOUT_MS: String(deadline), CLOUD_SECRETS: 'apiKey=api-key' }, 20_000)
  world.keyvault.faults.hang = false
  t.equal(kv.code, 1)
  t.ok(kv.ms < deadline + 3000, `exited after ${kv.ms} ms`)
  const doc = parseJson(kv)
  t.match(doc.timeout, { code: 'FST_CLOUD_SECRETS_TIMEOUT', pending: Array, fix: /CLOUD_SECRETS_TIMEOUT_MS/ })
  t.ok(doc.timeout.pending.includes('secret "apiKey" (Key Vault myvault.vault.azure.net/secrets/api-key)'), 'the pending Key Vault call is named')
  t.match(doc.providers, [{ name: 'azure', status: 'ok' }])
  t.match(doc.secrets, [{ alias: 'apiKey', status: 'failed', error: { code: 'FST_CLOUD_SECRETS_TIMEOUT' } }])

  world.appService.faults.hang = true
  const id = await cli(['doctor'], { ...base, CLOUD_SECRETS_TIMEOUT_MS: String(deadline), CLOUD_SECRETS: 'apiKey=api-key' }, 20_000)
  world.appService.faults.hang = false
  t.equal(id.code, 1)
  t.ok(id.ms < deadline + 3000, `exited after ${id.ms} ms`)
  t.match(id.stdout, /Identity \(azure\)\s+FAILED/)
  t.match(id.stdout, /FST_CLOUD_SECRETS_TIMEOUT/)
  t.match(id.stdout, /still pending: identity/)
})

test('policy: az commands and Bicep for the resolved identity, or for --principal without any lookup', async (t) => {
  const env = { ...base, CLOUD_SECRETS: 'apiKey=api-key, dbPassword=db#password' }
  const run = await cli(['policy'], env)
  t.equal(run.code, 0, 'exit 0')
  t.match(run.stdout, new RegExp(`azure for ${world.systemMi.oid} \\(from azure:managed-identity\\)\\n {2}secrets: apiKey, dbPassword`))
  t.match(run.stdout, `az role assignment create --assignee-object-id ${world.systemMi.oid} --assignee-principal-type ServicePrincipal --role "Key Vault Secrets User" --scope "$(az keyvault show --name myvault --query id -o tsv)"`)
  t.match(run.stdout, '--scope "$(az keyvault show --name myvault --query id -o tsv)/secrets/api-key"')
  t.match(run.stdout, /# Bicep: Key Vault Secrets User on vault myvault \(bicep\)\nresource myvault 'Microsoft\.KeyVault\/vaults@/)
  t.match(run.stdout, /az keyvault set-policy --name myvault/)

  const given = randomPrincipal({ tid: world.tenant }).oid as string
  const before = world.appService.total
  const json = await cli(['policy', '--json', '--principal', `azure=${given}`], env)
  t.equal(json.code, 0)
  t.equal(world.appService.total, before, 'no token was asked for')
  const doc = parseJson(json)
  t.match(doc.providers, [{ name: 'azure', principal: given, principalFrom: '--principal', aliases: ['apiKey', 'dbPassword'], documents: [{ format: 'sh', text: new RegExp(`--assignee-object-id ${given}`) }, { format: 'bicep' }, { format: 'sh' }] }])
})

test('leak scan over every CLI output of this file', async (t) => {
  t.ok(outputs.length >= 10)
  const needles = [...Object.values(values), dbJson, world.appService.header, ...world.tokens.all()]
  t.ok(world.tokens.all().length > 0, 'tokens were minted and are part of the scan')
  assertNoLeak(t, outputs.map((r) => r.stdout + r.stderr).join('\n'), needles, 'doctor and policy output')
  t.notOk(outputs.some((r) => r.stderr.includes('LOOPBACK GUARD')), 'no child connection left loopback')
  t.same((globalThis as { __loopbackViolations?: string[] }).__loopbackViolations, [])
})

test('teardown', async () => { await world.close() })
