import { test } from 'tap'
import { inspect } from 'node:util'
import { startAzureWorld, randomPrincipal, fakeCli, azTokenOutput } from '../fakes/azure/index.js'
import { useEnv, pathWith } from './env.js'
import { startApp, warmUp } from './app.js'
import { assertNoLeak, errorText, randomSecret } from '../helpers/capture.js'

test('no secret value, token, client secret or identity header in any log line, error or report', async (t) => {
  await warmUp()
  const world = await startAzureWorld()
  t.teardown(world.close)
  const values = [randomSecret('a'), randomSecret('b'), JSON.stringify({ password: randomSecret('c') })]
  world.keyvault.setSecret(world.vault, 'a', values[0])
  world.keyvault.setSecret(world.vault, 'b', values[1])
  world.keyvault.setSecret(world.vault, 'c', values[2])
  world.vault.readers.add(world.systemMi.oid)
  const clientSecret = randomSecret('client-secret')
  const sp = randomPrincipal({ tid: world.tenant })
  world.entra.addApp({ principal: sp, secret: clientSecret })
  const base = { ...world.redirectEnv(), AZURE_KEYVAULT_URL: 'https://myvault.vault.azure.net', CLOUD_SECRETS_PROVIDER: 'azure', CLOUD_SECRETS_TIMEOUT_MS: '3000' }
  let text = ''

  // success: values loaded, tokens minted, debug logs on
  useEnv(t, { ...base, ...world.appService.env(), CLOUD_SECRETS: 'a=a,b=b,pw=c#password' })
  const ok = await startApp(t)
  t.error(ok.error)
  text += ok.logs.text() + inspect(ok.app.secrets) + JSON.stringify(ok.app.secrets) + inspect(ok.app.cloud, { depth: 10 }) + JSON.stringify(ok.app.cloud) + inspect(ok.app.cloud.azure, { depth: 10 })

  // failures: denied + throttled secrets (real error bodies), then a wrong client secret, then az output
  const denied = randomPrincipal({ tid: world.tenant })
  world.appService.identities.user?.set(denied.appid as string, denied)
  useEnv(t, { ...base, ...world.appService.env(), AZURE_CLIENT_ID: denied.appid, CLOUD_SECRETS: 'a=a,b=b' })
  const failed = await startApp(t)
  t.equal(failed.error?.code, 'FST_CLOUD_SECRETS_LOAD_FAILED')
  text += failed.logs.text() + errorText(failed.error)

  useEnv(t, { ...base, AZURE_TENANT_ID: world.tenant, AZURE_CLIENT_ID: sp.appid, AZURE_CLIENT_SECRET: randomSecret('wrong') + clientSecret, CLOUD_SECRETS: 'a=a' })
  const rejected = await startApp(t)
  t.equal(rejected.error?.code, 'FST_CLOUD_SECRETS_TOKEN')
  text += rejected.logs.text() + errorText(rejected.error)

  const azToken = world.tokens.mint(sp, 'https://vault.azure.net')
  const az = fakeCli('az', { stdout: azTokenOutput(azToken.token, azToken.exp, world.tenant).slice(0, -3) })
  useEnv(t, { ...base, AZURE_POD_IDENTITY_AUTHORITY_HOST: world.imdsNoIdentity.host, CLOUD_SECRETS: 'a=a', PATH: pathWith(az.dir) })
  const broken = await startApp(t)
  t.ok(broken.error)
  text += broken.logs.text() + errorText(broken.error)

  const needles = [...values, JSON.parse(values[2]).password as string, clientSecret, world.appService.header, ...world.tokens.all()]
  t.ok(world.tokens.all().length >= 3, 'tokens were minted and are part of the scan')
  assertNoLeak(t, text, needles)
})

test('nothing connected outside loopback', async (t) => {
  t.same((globalThis as { __loopbackViolations?: string[] }).__loopbackViolations, [])
})
