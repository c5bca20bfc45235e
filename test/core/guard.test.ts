import { test } from 'tap'
import net from 'node:net'

test('the loopback guard refuses a non-loopback connection and names it', async (t) => {
  const violations = (globalThis as { __loopbackViolations?: string[] }).__loopbackViolations
  t.ok(Array.isArray(violations), 'the guard is preloaded in test processes')
  const before = violations?.length ?? 0
  const err = await new Promise<Error>((resolve) => {
    const socket = net.connect({ host: '192.0.2.1', port: 9 })
    socket.on('error', resolve)
  })
  t.match(err.message, /loopback guard/)
  t.equal(violations?.length, before + 1)
  violations?.pop()
  process.exitCode = 0
})

test('the guard lets loopback connections through', async (t) => {
  const server = net.createServer((s) => s.end('hi'))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const port = (server.address() as net.AddressInfo).port
  const data = await new Promise<string>((resolve, reject) => {
    const socket = net.connect({ host: 'localhost', port })
    let buf = ''
    socket.on('data', (d) => { buf += String(d) })
    socket.on('end', () => resolve(buf))
    socket.on('error', reject)
  })
  t.equal(data, 'hi')
})

test('FCS_TEST_REDIRECT sends a production hostname to a loopback fake over TLS trusted via FCS_TEST_CA_FILE', async (t) => {
  const { testPki } = await import('../helpers/tls.js')
  const https = await import('node:https')
  const pki = testPki(['secretsmanager.us-east-1.amazonaws.com'])
  const server = https.createServer({ key: pki.key, cert: pki.cert }, (req, res) => { res.end(`host=${req.headers.host}`) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const port = (server.address() as net.AddressInfo).port
  process.env.FCS_TEST_REDIRECT = `secretsmanager.us-east-1.amazonaws.com=127.0.0.1:${port}`
  process.env.FCS_TEST_CA_FILE = pki.caFile
  t.teardown(() => { delete process.env.FCS_TEST_REDIRECT; delete process.env.FCS_TEST_CA_FILE })
  const body = await new Promise<string>((resolve, reject) => {
    https.get('https://secretsmanager.us-east-1.amazonaws.com/', (res) => {
      let buf = ''
      res.on('data', (d) => { buf += String(d) })
      res.on('end', () => resolve(buf))
    }).on('error', reject)
  })
  t.equal(body, 'host=secretsmanager.us-east-1.amazonaws.com')
})

test('a process started with NODE_EXTRA_CA_CERTS naming the test CA trusts the fakes with no per-context CA list (the bench children)', async (t) => {
  const { testPki } = await import('../helpers/tls.js')
  const https = await import('node:https')
  const { execFile } = await import('node:child_process')
  const pki = testPki(['vault-x.vault.azure.net'])
  const server = https.createServer({ key: pki.key, cert: pki.cert }, (req, res) => { res.end('ok') })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => server.close())
  const port = (server.address() as net.AddressInfo).port
  const child = `import https from 'node:https'
    const body = await new Promise((resolve, reject) => https.get('https://vault-x.vault.azure.net/', (res) => { let b = ''; res.on('data', (d) => { b += d }); res.on('end', () => resolve(b)) }).on('error', reject))
    console.log(JSON.stringify({ body, lists: globalThis.__testCaContexts ?? 0 }))`
  const run = async (extra: Record<string, string>): Promise<{ body: string, lists: number }> => await new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', child], { env: { ...process.env, FCS_TEST_REDIRECT: `vault-x.vault.azure.net=127.0.0.1:${port}`, FCS_TEST_CA_FILE: pki.caFile, ...extra } }, (err, stdout) => {
      if (err !== null) reject(err)
      else resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '{}'))
    })
  })
  t.same(await run({ NODE_EXTRA_CA_CERTS: pki.caFile }), { body: 'ok', lists: 0 }, 'trusted through the default store')
  const without = await run({})
  t.equal(without.body, 'ok')
  t.ok(without.lists >= 1, 'without it, the guard adds the CA to a per-context list')
})
