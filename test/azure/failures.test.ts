import { test } from 'tap'
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startAzureWorld, randomPrincipal, fakeCli } from '../fakes/azure/index.js'
import { useEnv, pathWith } from './env.js'
import { startApp, warmUp } from './app.js'
import { randomSecret } from '../helpers/capture.js'
import type { CloudSecretsError } from '../../src/index.js'

test('credential failures: NO_CREDENTIALS vs TOKEN, DefaultAzureCredential stop rules', async (t) => {
  await warmUp()
  const world = await startAzureWorld()
  t.teardown(world.close)
  world.keyvault.setSecret(world.vault, 'db-password', randomSecret())
  const base = { ...world.redirectEnv(), AZURE_KEYVAULT_URL: 'https://myvault.vault.azure.net', CLOUD_SECRETS: 'db=db-password', CLOUD_SECRETS_PROVIDER: 'azure', CLOUD_SECRETS_TIMEOUT_MS: '4000' }
  const noImds = { AZURE_POD_IDENTITY_AUTHORITY_HOST: world.imdsNoIdentity.host }
  const sp = randomPrincipal({ tid: world.tenant })
  world.entra.addApp({ principal: sp, secret: randomSecret('right') })

  await t.test('nothing available (az/azd not logged in, no identity) → NO_CREDENTIALS listing each source and the az login fix', async (t) => {
    useEnv(t, { ...base, ...noImds })
    const { error, app } = await startApp(t)
    const err = error as CloudSecretsError
    t.equal(err?.code, 'FST_CLOUD_SECRETS_NO_CREDENTIALS')
    t.same(err.attempts?.map((a) => [a.source, a.outcome]), [
      ['azure:environment', 'skipped'], ['azure:workload-identity', 'skipped'], ['azure:managed-identity', 'skipped'], ['azure:cli', 'skipped'], ['azure:developer-cli', 'skipped']
    ])
    t.match(err.message, /azure:cli \[skipped\]: AzureCliCredential: not logged in \(az: ERROR: Please run 'az login'/)
    t.match(err.message, /no managed identity is assigned/)
    t.match(err.fix, /az login/)
    t.match(err.fix, /az account set --subscription/)
    t.notOk(app.hasDecorator('secrets'), 'nothing decorated')
  })

  await t.test('wrong client secret stops the chain (az is never run) → TOKEN with AADSTS7000215', async (t) => {
    const az = fakeCli('az', { stderr: 'should not run', exit: 1 })
    useEnv(t, { ...base, ...noImds, AZURE_TENANT_ID: world.tenant, AZURE_CLIENT_ID: sp.appid, AZURE_CLIENT_SECRET: randomSecret('wrong'), PATH: pathWith(az.dir) })
    const { error } = await startApp(t)
    const err = error as CloudSecretsError
    t.equal(err?.code, 'FST_CLOUD_SECRETS_TOKEN')
    t.match(err.message, /AADSTS7000215: Invalid client secret/)
    t.match(err.fix, /AZURE_CLIENT_SECRET is wrong or expired/)
    t.equal(err.attempts?.length, 1)
    t.equal(readFileSync(az.callsFile, 'utf8'), '', 'az not called')
  })

  await t.test('incomplete environment credential is skipped with the missing variable named', async (t) => {
    useEnv(t, { ...base, ...noImds, AZURE_CLIENT_SECRET: 'x'.repeat(10) })
    const { error } = await startApp(t)
    t.match((error as CloudSecretsError).attempts?.[0].reason, /incomplete: AZURE_TENANT_ID and AZURE_CLIENT_ID not set/)
  })

  await t.test('workload identity with an untrusted token → TOKEN with the federated-credential fix', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'fcs-wi-'))
    writeFileSync(join(dir, 'token'), randomSecret('untrusted'))
    useEnv(t, { ...base, AZURE_FEDERATED_TOKEN_FILE: join(dir, 'token'), AZURE_CLIENT_ID: sp.appid, AZURE_TENANT_ID: world.tenant })
    const { error } = await startApp(t)
    const err = error as CloudSecretsError
    t.equal(err?.code, 'FST_CLOUD_SECRETS_TOKEN')
    t.match(err.message, /azure:workload-identity/)
    t.match(err.fix, /federated-credential/)
  })

  await t.test('managed identity endpoint: 5xx retried then success; unknown user-assigned id → TOKEN', async (t) => {
    useEnv(t, { ...base, ...world.appService.env() })
    world.vault.readers.add(world.systemMi.oid)
    const before = world.appService.total
    world.appService.faults.script = [{ status: 500 }, { status: 503 }]
    const ok = await startApp(t)
    t.error(ok.error)
    t.equal(world.appService.total - before, 3)

    useEnv(t, { ...base, ...world.appService.env(), ...noImds, AZURE_CLIENT_ID: randomPrincipal().appid })
    const { error } = await startApp(t)
    const err = error as CloudSecretsError
    t.equal(err?.code, 'FST_CLOUD_SECRETS_TOKEN')
    t.match(err.message, /No User Assigned or Delegated Managed Identity found/)
    t.match(err.fix, /AZURE_CLIENT_ID names a user-assigned identity/)
  })

  await t.test('managed identity endpoint keeps failing → UNAVAILABLE after bounded retries', async (t) => {
    useEnv(t, { ...base, ...world.appService.env(), ...noImds })
    world.appService.faults.script = Array.from({ length: 10 }, () => ({ status: 500 }))
    const { error } = await startApp(t)
    world.appService.faults.script = []
    const err = error as CloudSecretsError
    t.equal(err?.code, 'FST_CLOUD_SECRETS_UNAVAILABLE', 'an endpoint that keeps failing is not a rejected credential')
    t.match(err.message, /HTTP 500/)
    t.match(err.attempts?.find((a) => a.source === 'azure:managed-identity'), { outcome: 'failed' })
  })

  await t.test('az logged in but failing for another reason → TOKEN naming az', async (t) => {
    const az = fakeCli('az', { stderr: 'ERROR: AADSTS50173: The provided grant has expired due to it being revoked.', exit: 1 })
    useEnv(t, { ...base, ...noImds, PATH: pathWith(az.dir) })
    const { error } = await startApp(t)
    const err = error as CloudSecretsError
    t.equal(err?.code, 'FST_CLOUD_SECRETS_TOKEN')
    t.match(err.message, /AzureCliCredential: az failed \(exit 1\): ERROR: AADSTS50173/)
  })

  await t.test('az printing something unexpected never echoes it', async (t) => {
    const token = world.tokens.mint(sp, 'https://vault.azure.net').token
    const az = fakeCli('az', { stdout: `{"accessToken": "${token}", "expiresOn": "garbage"` })
    useEnv(t, { ...base, ...noImds, PATH: pathWith(az.dir) })
    const { error } = await startApp(t)
    t.match(error?.message, /not the expected JSON/)
    t.notMatch(error?.message, token)
  })

  await t.test('a checked scope that cannot be issued → the startup fails naming the scope', async (t) => {
    useEnv(t, { ...base, ...world.appService.env(), CLOUD_SECRETS_CHECK_SCOPES: 'https://database.windows.net/.default https://storage.azure.com/.default' })
    world.appService.unknownResources.add('https://database.windows.net')
    t.teardown(() => world.appService.unknownResources.clear())
    const { error } = await startApp(t)
    const err = error as CloudSecretsError
    t.equal(err?.code, 'FST_CLOUD_SECRETS_LOAD_FAILED')
    const check = err.errors?.find((e) => e.check === 'token scopes')
    t.equal(check?.code, 'FST_CLOUD_SECRETS_TOKEN')
    t.match(check?.message, /https:\/\/database\.windows\.net\/\.default: .*AADSTS500011/)
    t.notMatch(check?.message, /storage/)
  })
})

test('nothing connected outside loopback', async (t) => {
  t.same((globalThis as { __loopbackViolations?: string[] }).__loopbackViolations, [])
})
