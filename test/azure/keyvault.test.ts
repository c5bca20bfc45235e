import { test } from 'tap'
import { startAzureWorld, randomPrincipal } from '../fakes/azure/index.js'
import { useEnv } from './env.js'
import { startApp, warmUp } from './app.js'
import { randomSecret } from '../helpers/capture.js'
import type { CloudSecretsError } from '../../src/index.js'

test('Key Vault over TLS with challenge auth, at https://NAME.vault.azure.net', async (t) => {
  await warmUp()
  const world = await startAzureWorld()
  t.teardown(world.close)
  const mi = world.systemMi
  const base = { ...world.redirectEnv(), ...world.appService.env(), WEBSITE_SITE_NAME: 'my-app', AZURE_KEYVAULT_URL: 'https://myvault.vault.azure.net', CLOUD_SECRETS_TIMEOUT_MS: '4000' }
  const vault = world.vault
  vault.readers.add(mi.oid)
  const v1 = randomSecret('v1')
  const v2 = randomSecret('v2')
  const v1id = world.keyvault.setSecret(vault, 'api-key', v1)
  world.keyvault.setSecret(vault, 'api-key', v2)
  const dbJson = { user: 'app', password: randomSecret('pw'), nested: { port: 5432 } }
  world.keyvault.setSecret(vault, 'db', JSON.stringify(dbJson))
  const cn = world.keyvault.vault('chinavault', world.tenant)
  cn.readers.add(mi.oid)
  const cnValue = randomSecret('cn')
  world.keyvault.setSecret(cn, 'cn-secret', cnValue)
  const gov = world.keyvault.vault('govvault', world.tenant)
  gov.readers.add(mi.oid)
  const govValue = randomSecret('gov')
  world.keyvault.setSecret(gov, 'gov-secret', govValue)

  await t.test('many secrets: one challenge round trip per vault, then the reads fan out', async (t) => {
    const names = Array.from({ length: 12 }, (_, i) => `fan-${i}`)
    const values = names.map((n) => { const v = randomSecret(n); world.keyvault.setSecret(vault, n, v); return v })
    useEnv(t, { ...base, CLOUD_SECRETS: names.map((n, i) => `s${i}=${n}`).join(',') })
    const before = world.keyvault.total
    const { app, error } = await startApp(t)
    t.error(error)
    t.same(Object.values(app.secrets), values)
    t.equal(world.keyvault.total - before, names.length + 1, '12 reads and a single unauthenticated challenge request')
  })

  await t.test('short names, full URLs (sovereign hosts too), version ids, #json keys; one GET per distinct secret', async (t) => {
    useEnv(t, {
      ...base,
      CLOUD_SECRETS: [
        'latest=api-key', `old=api-key?version=${v1id}`, `pinned=https://myvault.vault.azure.net/secrets/api-key/${v1id}`,
        'dbUser=db#user', 'dbPassword=db#password', 'dbPort=db#nested.port',
        'cn=https://chinavault.vault.azure.cn/secrets/cn-secret', 'gov=https://govvault.vault.usgovcloudapi.net/secrets/gov-secret', 'missing=nope?optional'
      ].join(',')
    })
    const before = world.keyvault.count('GET /secrets/db/')
    const { app, error, logs } = await startApp(t)
    t.error(error)
    t.same({ ...app.secrets }, { latest: v2, old: v1, pinned: v1, dbUser: 'app', dbPassword: dbJson.password, dbPort: '5432', cn: cnValue, gov: govValue, missing: undefined })
    t.equal(world.keyvault.count('GET /secrets/db/') - before, 1, 'db fetched once, shared by three aliases (the vault challenge was settled by the first request to the vault)')
    t.match(logs.text(), /optional secret is absent/)
    const a = app.cloud.azure
    t.ok(a !== undefined)
    t.equal(a?.secretClient(), a?.secretClient('https://MYVAULT.vault.azure.net/'), 'one SecretClient per vault')
    t.not(a?.secretClient(), a?.secretClient('https://chinavault.vault.azure.cn'))
    t.equal((await a?.secretClient().getSecret('api-key'))?.value, v2, 'the SecretClient on app.cloud.azure works')
    t.throws(() => a?.secretClient('http://insecure.example'), /https/)
    class FakeSdkClient { constructor (readonly url: string, readonly credential: unknown, readonly options?: unknown) {} }
    const c1 = a?.client(FakeSdkClient, 'https://acct.blob.core.windows.net')
    t.equal(c1?.credential, a?.credential, 'client() passes the credential after the endpoint')
    t.equal(a?.client(FakeSdkClient, 'https://acct.blob.core.windows.net'), c1, 'memoised per constructor and arguments')
    t.not(a?.client(FakeSdkClient, 'https://other.blob.core.windows.net'), c1)
    class ArmLike { constructor (readonly credential: unknown, readonly sub: string) {} }
    t.equal(a?.client(ArmLike, a.credential, 'sub-1').credential, a?.credential, 'credential passed explicitly stays where it is')
    t.match(JSON.stringify(app.cloud), /"principal"/)
    t.notMatch(JSON.stringify(a), /token/i)
    const docs = app.cloud.azure !== undefined ? (await import('../../src/providers/azure/grant.js')).grantDocuments([], app.cloud.identity) : []
    t.same(docs, [])
  })

  await t.test('404 SecretNotFound → NOT_FOUND with the create command', async (t) => {
    useEnv(t, { ...base, CLOUD_SECRETS: 'x=does-not-exist' })
    const { error } = await startApp(t)
    t.equal(error?.code, 'FST_CLOUD_SECRETS_LOAD_FAILED')
    const inner = (error as CloudSecretsError).errors?.[0]
    t.equal(inner?.code, 'FST_CLOUD_SECRETS_NOT_FOUND')
    t.equal(inner?.alias, 'x')
    t.match(inner?.message, /does-not-exist in vault myvault/)
    t.match(inner?.fix, /az keyvault secret set --vault-name myvault --name does-not-exist/)
  })

  await t.test('403 ForbiddenByRbac → ACCESS_DENIED naming the principal, the role and the exact az command', async (t) => {
    const other = randomPrincipal({ tid: world.tenant })
    world.appService.identities.user?.set(other.appid as string, other)
    world.keyvault.setSecret(vault, 'locked', randomSecret())
    useEnv(t, { ...base, AZURE_CLIENT_ID: other.appid, CLOUD_SECRETS: 'locked=locked' })
    const { error } = await startApp(t)
    const inner = (error as CloudSecretsError).errors?.[0]
    t.equal(inner?.code, 'FST_CLOUD_SECRETS_ACCESS_DENIED')
    t.equal(inner?.principal, other.oid)
    t.equal(inner?.permission, 'Key Vault Secrets User')
    t.match(inner?.message, new RegExp(`principal ${other.oid}`))
    t.match(inner?.fix, `az role assignment create --assignee-object-id ${other.oid} --assignee-principal-type ServicePrincipal --role "Key Vault Secrets User" --scope "$(az keyvault show --name myvault --query id -o tsv)"`)
    t.match(inner?.fix, '--scope "$(az keyvault show --name myvault --query id -o tsv)/secrets/locked"')
    // the per-secret grant is enough
    vault.secretReaders.set('locked', new Set([other.oid]))
    const again = await startApp(t)
    t.error(again.error)
  })

  await t.test('403 from an access-policy vault → az keyvault set-policy', async (t) => {
    const ap = world.keyvault.vault('apvault', world.tenant, 'access-policy')
    world.keyvault.setSecret(ap, 's', randomSecret())
    useEnv(t, { ...base, CLOUD_SECRETS: 's=https://apvault.vault.azure.net/secrets/s' })
    const { error } = await startApp(t)
    const inner = (error as CloudSecretsError).errors?.[0]
    t.equal(inner?.code, 'FST_CLOUD_SECRETS_ACCESS_DENIED')
    t.match(inner?.fix, `az keyvault set-policy --name apvault --object-id ${mi.oid} --secret-permissions get`)
  })

  await t.test('disabled secret → explained, with the command to enable it', async (t) => {
    world.keyvault.setSecret(vault, 'off', randomSecret(), false)
    useEnv(t, { ...base, CLOUD_SECRETS: 'off=off' })
    const { error } = await startApp(t)
    const inner = (error as CloudSecretsError).errors?.[0]
    t.equal(inner?.code, 'FST_CLOUD_SECRETS_ACCESS_DENIED')
    t.match(inner?.message, /is disabled/)
    t.match(inner?.fix, 'az keyvault secret set-attributes --vault-name myvault --name off --enabled true')
  })

  await t.test('401 after the challenge (vault of another tenant) → TOKEN', async (t) => {
    const foreign = world.keyvault.vault('foreign', randomPrincipal().tid)
    foreign.readers.add(mi.oid)
    world.keyvault.setSecret(foreign, 'f', randomSecret())
    useEnv(t, { ...base, CLOUD_SECRETS: 'f=https://foreign.vault.azure.net/secrets/f' })
    const { error } = await startApp(t)
    const inner = (error as CloudSecretsError).errors?.[0]
    t.equal(inner?.code, 'FST_CLOUD_SECRETS_TOKEN')
    t.match(inner?.message, /rejected the token/)
  })

  await t.test('429 with Retry-After inside the deadline is retried; 5xx is retried', async (t) => {
    useEnv(t, { ...base, CLOUD_SECRETS: 'latest=api-key' })
    world.keyvault.faults.script = [{ status: 429, retryAfter: '1' }, { status: 503 }]
    const before = world.keyvault.count('GET /secrets/api-key/')
    const { app, error } = await startApp(t)
    t.error(error)
    t.equal(app.secrets.latest, v2)
    t.equal(world.keyvault.count('GET /secrets/api-key/') - before, 4, 'challenge, 429, 503, success')
  })

  await t.test('429 with Retry-After beyond the deadline → THROTTLED at once, not a timeout', async (t) => {
    useEnv(t, { ...base, CLOUD_SECRETS: 'latest=api-key', CLOUD_SECRETS_TIMEOUT_MS: '3000' })
    world.keyvault.faults.script = [{ status: 429, retryAfter: '30' }]
    const { error, ms } = await startApp(t)
    world.keyvault.faults.script = []
    const inner = (error as CloudSecretsError).errors?.[0]
    t.equal(inner?.code, 'FST_CLOUD_SECRETS_THROTTLED')
    t.match(inner?.message, /retry after 30 s, beyond the remaining startup deadline/)
    t.ok(ms < 3000, `failed before the deadline (${ms} ms)`)
  })
})

test('nothing connected outside loopback', async (t) => {
  t.same((globalThis as { __loopbackViolations?: string[] }).__loopbackViolations, [])
})
