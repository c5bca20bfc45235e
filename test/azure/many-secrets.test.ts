import { test } from 'tap'
import { startAzureWorld } from '../fakes/azure/index.js'
import { randomSecret } from '../helpers/capture.js'
import { startApp, warmUp } from './app.js'
import { useEnv } from './env.js'

// 200 secrets of one vault, read over the provider's bounded pool (DEFAULT_CONCURRENCY
// connections): every read links its abort signal to the startup deadline and the provider's
// close; that must not pile one listener per request on one signal (Node prints
// MaxListenersExceededWarning from 11 on), and nothing at all may reach stderr as a warning.
test('a 200-secret boot on Key Vault: every value, no process warning', async (t) => {
  await warmUp()
  const world = await startAzureWorld()
  t.teardown(world.close)
  const warnings: string[] = []
  const onWarning = (w: Error): void => { warnings.push(`${w.name}: ${w.message}`) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  const vault = world.vault
  vault.readers.add(world.systemMi.oid)
  const names = Array.from({ length: 200 }, (_, i) => `many-${i}`)
  const values = names.map((n) => { const v = randomSecret(n); world.keyvault.setSecret(vault, n, v); return v })
  useEnv(t, { ...world.redirectEnv(), ...world.appService.env(), WEBSITE_SITE_NAME: 'many', AZURE_KEYVAULT_URL: 'https://myvault.vault.azure.net', CLOUD_SECRETS_TIMEOUT_MS: '15000', CLOUD_SECRETS: names.map((n, i) => `s${i}=${n}`).join(',') })
  const { app, error } = await startApp(t)
  t.error(error, 'startup succeeds')
  if (error === undefined) t.same(Object.values(app.secrets), values, 'all 200 values, in order')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(warnings, [], 'no process warning (MaxListenersExceededWarning or any other)')
})
