import { test } from 'tap'
import { request, createServer } from 'node:http'
import { once } from 'node:events'
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { untilLookedUp, untilSocketOpened } from '../../src/shared/until-connecting.js'
import { ClientCache } from '../../src/shared/client-cache.js'
import { jwtClaims, jwtExpiryMs, stringClaim } from '../../src/shared/jwt.js'
import { RequestLifetime } from '../../src/shared/request-lifetime.js'

class Thing { constructor (readonly args: unknown[]) {} }
class Other { constructor (readonly args: unknown[]) {} }

test('ClientCache: one client per constructor and arguments, by value for plain data and by identity otherwise', async (t) => {
  const cache = new ClientCache('client()')
  let built = 0
  const make = (Ctor: typeof Thing, ...args: unknown[]): object => cache.get(Ctor, args, () => { built++; return new Ctor(args) })
  const a = make(Thing, { region: 'eu-west-1', retry: { max: 3 } })
  t.equal(make(Thing, { retry: { max: 3 }, region: 'eu-west-1' }), a, 'key order does not matter')
  t.not(make(Thing, { region: 'eu-west-2', retry: { max: 3 } }), a, 'another value: another client')
  t.not(make(Thing, { region: 'eu-west-1', retry: { max: 4 } }), a, 'a nested difference counts')
  t.not(make(Other, { region: 'eu-west-1', retry: { max: 3 } }), a, 'another constructor: another client')
  const agentA = new Map()
  const agentB = new Map()
  const withA = make(Thing, 'url', { agent: agentA })
  t.equal(make(Thing, 'url', { agent: agentA }), withA, 'the same object argument: the same client')
  t.not(make(Thing, 'url', { agent: agentB }), withA, 'an equal-looking but different object: its own client')
  t.not(make(Thing, 1), make(Thing, '1'), 'a number is not a string')
  t.not(make(Thing, undefined), make(Thing, null), 'undefined is not null')
  const cyclic: Record<string, unknown> = { name: 'x' }
  cyclic.self = cyclic
  t.equal(make(Thing, cyclic), make(Thing, cyclic), 'a cycle does not throw')
  const s1 = Symbol('k')
  t.not(make(Thing, s1), make(Thing, Symbol('k')), 'two symbols with one description differ')
  t.equal(built, 13)
  t.equal(cache.all().length, 13)
  t.same(cache.names().sort(), ['Other', 'Thing'])
  cache.close()
  t.throws(() => make(Thing, {}), /client\(\) called after the app closed/)
})

const token = (claims: object): string => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`

test('jwt: claims are decoded, never verified, and only string or number claims come back', async (t) => {
  t.same(jwtClaims(token({ sub: 'a', exp: 10, nested: { x: 1 }, oid: 'o' }), ['sub', 'exp', 'nested']), { sub: 'a', exp: 10 })
  t.equal(stringClaim(token({ sub: 'svc' }), 'sub'), 'svc')
  t.equal(stringClaim(token({ sub: 5 }), 'sub'), undefined)
  t.equal(jwtExpiryMs(token({ exp: 1700000000 })), 1700000000000)
  for (const bad of [undefined, '', 'abc', 'a.b.c', 'a.' + Buffer.from('[1]').toString('base64url') + '.c', 'a.' + Buffer.from('null').toString('base64url')]) {
    t.same(jwtClaims(bad, ['sub']), {}, `malformed ${String(bad)}`)
  }
})

test('RequestLifetime.link: one listener per lifetime signal however many requests, and abort by deadline or close', async (t) => {
  const lifetime = new RequestLifetime()
  const deadline = new AbortController()
  lifetime.bindDeadline(deadline.signal)
  const warnings: unknown[] = []
  const onWarning = (w: unknown): void => { warnings.push(w) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  // 50 requests at once, each with its own signal: the deadline gets one listener, not 50
  const links = Array.from({ length: 50 }, () => lifetime.link(new AbortController().signal))
  links.slice(0, 25).forEach((l) => { l.release() })
  deadline.abort()
  t.ok(links.slice(25).every((l) => l.signal.aborted), 'live requests end at the deadline')
  t.ok(links.slice(0, 25).every((l) => !l.signal.aborted), 'released requests are left alone')
  t.ok(lifetime.link().signal.aborted, 'a request after the deadline is aborted at once')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(warnings, [], 'no MaxListenersExceededWarning')

  const other = new RequestLifetime()
  const own = new AbortController()
  const l1 = other.link(own.signal)
  own.abort()
  t.ok(l1.signal.aborted, "a request's own signal aborts it")
  const l2 = other.link()
  other.close()
  t.ok(l2.signal.aborted && other.closed && other.signal.aborted, 'close() aborts what is live')
})

test('RequestLifetime.track: node:http requests started inside a step die when its signal aborts, and on close', async (t) => {
  const server = createServer(() => { /* never answers */ })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const { port } = server.address() as AddressInfo
  const get = async (): Promise<string> => await new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/' })
    req.on('error', (err) => { resolve(err.name) })
    req.end()
  })
  const lifetime = new RequestLifetime()
  const step = new AbortController()
  const pending = lifetime.track(step.signal, get)
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.equal(lifetime.size, 1, 'the request is tracked')
  step.abort()
  t.equal(await pending, 'AbortError', 'the hung request ended with the step')

  const later = lifetime.track(new AbortController().signal, get)
  await new Promise((resolve) => setTimeout(resolve, 50))
  lifetime.close()
  t.equal(await later, 'AbortError', 'close() ends a request in flight')
  t.equal(await lifetime.track(new AbortController().signal, get), 'AbortError', 'a request started after close dies at once')
  // a destroyed request's 'close' comes a few ticks after its 'error'
  for (let i = 0; i < 200 && lifetime.size > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal(lifetime.size, 0, 'nothing left open')
})

test('untilLookedUp: resolves once every socket is past its lookup (or connected, or failed); at once for none', async (t) => {
  const server = createTcpServer((socket) => { socket.destroy() })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.close() })
  const port = (server.address() as AddressInfo).port
  await untilLookedUp([], 10_000)
  t.pass('no socket: resolved at once')
  const sockets: Socket[] = [connect(port, 'localhost'), connect(port, '127.0.0.1'), connect(9, '127.0.0.1')]
  for (const s of sockets) s.on('error', () => {})
  const looked = new Set<Socket>()
  for (const s of sockets) s.once('lookup', () => looked.add(s))
  const started = performance.now()
  await untilLookedUp(sockets, 10_000)
  t.ok(performance.now() - started < 5000, 'resolved by the sockets, not by the 10 s cap')
  t.ok(looked.has(sockets[0]), 'the hostname socket had looked up its host')
  t.ok(sockets.every((s) => !s.connecting || looked.has(s)), 'none is still before its lookup')
  for (const s of sockets) s.destroy()
})

test('untilLookedUp: the cap ends the wait for a socket that never gets past its lookup', async (t) => {
  const stuck = { connecting: true, destroyed: false, once: () => stuck } as unknown as Socket
  const started = performance.now()
  await untilLookedUp([stuck], 30)
  t.ok(performance.now() - started >= 25, 'waited for the cap')
})

test('untilSocketOpened: resolves when a TCP socket is created meanwhile, else at the cap', async (t) => {
  let socket: Socket | undefined
  const started = performance.now()
  await untilSocketOpened(() => {
    setTimeout(() => { socket = connect(9, '127.0.0.1'); socket.on('error', () => {}) }, 5)
  }, 10_000)
  t.ok(socket !== undefined, 'the socket created after open() ended the wait')
  t.ok(performance.now() - started < 5000, 'not the cap')
  socket?.destroy()
  const idle = performance.now()
  await untilSocketOpened(() => {}, 30)
  t.ok(performance.now() - idle >= 25, 'nothing opened: the cap')
})
