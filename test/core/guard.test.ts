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
