import http from 'node:http'
import net from 'node:net'
import { test } from 'tap'
import { startAzureWorld } from '../fakes/azure/index.js'
import { useEnv } from './env.js'
import { startApp, warmUp } from './app.js'
import { randomSecret } from '../helpers/capture.js'
import { sdkProxyApplies } from '../../src/shared/proxy.js'

// Behind a proxy (HTTPS_PROXY from the environment) the Key Vault reads go through it, as the
// SDK's pipeline sends them: the plugin's own direct pool is not used for such a vault. A real
// CONNECT proxy on loopback tunnels to the vault fake and counts the tunnels it opened.

test('HTTPS_PROXY: the vault is read through the proxy (CONNECT to the vault host), the secret loads', async (t) => {
  await warmUp()
  const world = await startAzureWorld()
  t.teardown(world.close)
  world.vault.readers.add(world.systemMi.oid)
  const value = randomSecret('proxied')
  world.keyvault.setSecret(world.vault, 'db', value)
  const tunnels: string[] = []
  const proxy = http.createServer((_req, res) => { res.statusCode = 405; res.end() })
  proxy.on('connect', (req, client: net.Socket, head: Buffer) => {
    tunnels.push(req.url ?? '')
    const [host, port] = (req.url ?? '').split(':')
    // the loopback guard sends the vault's production host to its fake
    const upstream = net.connect({ host, port: Number(port) }, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    upstream.on('error', () => client.destroy())
    client.on('error', () => upstream.destroy())
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { proxy.closeAllConnections(); proxy.close() })
  const port = (proxy.address() as net.AddressInfo).port
  const saved = { HTTPS_PROXY: process.env.HTTPS_PROXY, NO_PROXY: process.env.NO_PROXY }
  process.env.HTTPS_PROXY = `http://127.0.0.1:${port}`
  process.env.NO_PROXY = '127.0.0.1,localhost'
  t.teardown(() => {
    for (const [k, v] of Object.entries(saved)) { if (v === undefined) delete process.env[k]; else process.env[k] = v }
  })
  useEnv(t, { ...world.redirectEnv(), ...world.appService.env(), AZURE_KEYVAULT_URL: 'https://myvault.vault.azure.net', CLOUD_SECRETS: 'db=db', CLOUD_SECRETS_TIMEOUT_MS: '8000' })
  const { app, error } = await startApp(t)
  t.error(error)
  t.equal(app.secrets.db, value)
  t.ok(tunnels.length >= 1, `the proxy tunnelled ${tunnels.length} connection(s)`)
  t.ok(tunnels.every((u) => u === 'myvault.vault.azure.net:443'), `every tunnel went to the vault: ${tunnels.join(', ')}`)
})

test('sdkProxyApplies: the pipeline\'s rules (HTTPS_PROXY, ALL_PROXY, HTTP_PROXY; NO_PROXY exact or .suffix)', async (t) => {
  const host = 'myvault.vault.azure.net'
  t.equal(sdkProxyApplies(host, {}), false, 'no proxy variable: direct')
  t.equal(sdkProxyApplies(host, { https_proxy: 'http://p:3128' }), true, 'lower case works')
  t.equal(sdkProxyApplies(host, { HTTP_PROXY: 'http://p:3128' }), true)
  t.equal(sdkProxyApplies(host, { ALL_PROXY: 'http://p:3128', NO_PROXY: '.vault.azure.net' }), false, '.suffix bypasses subdomains')
  t.equal(sdkProxyApplies('vault.azure.net', { ALL_PROXY: 'http://p:3128', NO_PROXY: '.vault.azure.net' }), false, '.suffix bypasses the domain itself')
  t.equal(sdkProxyApplies(host, { HTTPS_PROXY: 'http://p:3128', NO_PROXY: 'vault.azure.net' }), true, 'a bare domain is an exact host only (the pipeline\'s rule)')
  t.equal(sdkProxyApplies(host, { HTTPS_PROXY: 'http://p:3128', NO_PROXY: ` other.example, ${host.toUpperCase()} ` }), false, 'exact host, any case, trimmed')
})
