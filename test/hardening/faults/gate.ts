import http from 'node:http'
import http2 from 'node:http2'
import https from 'node:https'
import net, { type AddressInfo, type Socket } from 'node:net'

// A fault gate: an HTTP/1.1 (plain or TLS) or HTTP/2 (TLS, for gRPC) endpoint that sits where a
// cloud endpoint is expected (FCS_TEST_REDIRECT or an endpoint env var points at it) and, per
// request, either passes the exchange through to the real fake behind it or breaks it the way
// networks and services break: never answer, drop the connection mid-body, drip bytes, answer
// with a crafted status/body/headers, or rewrite the fake's answer (expired credentials, a
// skewed Date). Connection refused needs no gate: `refusedPort()`.

export interface GateRequest {
  method: string
  path: string
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

export interface Answer {
  status: number
  headers?: Record<string, string>
  body?: string | Buffer
  /** HTTP/2 trailers (gRPC status) */
  trailers?: Record<string, string>
}

export type GateAction =
  | 'pass'
  /** accept the request and never answer */
  | 'hang'
  /** send the status line, headers and part of the body, then drop the connection */
  | 'reset'
  /** send headers, then one byte every 200 ms of a body that never ends */
  | 'drip'
  | Answer
  /** pass to the fake, then change its answer */
  | { rewrite: (upstream: Answer) => Answer }

/** Decides, for the n-th request (0-based) this gate sees, what happens to it. */
export type GatePolicy = (req: GateRequest, n: number) => GateAction

export interface GateOptions {
  /** the real fake behind the gate */
  upstream: { port: number, tls: boolean }
  /** serve TLS with this key/certificate (the cloud fakes' test PKI) */
  tls?: { key: string, cert: string }
  /** serve HTTP/2 (gRPC); needs tls */
  http2?: boolean
  policy: GatePolicy
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'http2-settings', 'te', 'host'])

export class FaultGate {
  port = 0
  seen = 0
  private readonly server: http.Server | https.Server | http2.Http2SecureServer
  private readonly sockets = new Set<Socket>()
  private readonly timers = new Set<NodeJS.Timeout>()
  private h2upstream?: http2.ClientHttp2Session

  constructor (private readonly options: GateOptions) {
    const handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void => {
      this.serve(req, res).catch(() => { this.drop(req, res) })
    }
    if (options.http2 === true) {
      if (options.tls === undefined) throw new Error('an HTTP/2 gate needs tls')
      this.server = http2.createSecureServer({ key: options.tls.key, cert: options.tls.cert, allowHTTP1: true }, handler)
    } else if (options.tls !== undefined) {
      this.server = https.createServer({ key: options.tls.key, cert: options.tls.cert }, handler)
    } else {
      this.server = http.createServer(handler)
    }
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
    })
  }

  get url (): string {
    return `${this.options.tls !== undefined ? 'https' : 'http'}://127.0.0.1:${this.port}`
  }

  async start (): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as AddressInfo).port
    return this
  }

  async close (): Promise<void> {
    for (const timer of this.timers) clearInterval(timer)
    this.h2upstream?.destroy()
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private async serve (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const request: GateRequest = { method: req.method ?? 'GET', path: req.url ?? '/', headers: { ...req.headers }, body: Buffer.concat(chunks) }
    const action = this.options.policy(request, this.seen++)
    if (action === 'hang') return
    const type = contentTypeFor(request)
    // a gRPC body starts with a 5-byte frame prefix: announce a 1000-byte message, then stall
    const head = type === 'application/grpc' ? Buffer.from([0, 0, 0, 0x03, 0xe8]) : Buffer.from('{"partial":"')
    const filler = type === 'application/grpc' ? Buffer.from([0]) : Buffer.from(' ')
    const length = 'stream' in res ? {} : { 'content-length': '100000' }
    if (action === 'reset') {
      res.writeHead(200, { 'content-type': type, ...length })
      ;(res as http.ServerResponse).write(head)
      this.later(30, () => { this.drop(req, res) })
      return
    }
    if (action === 'drip') {
      res.writeHead(200, { 'content-type': type, ...length })
      ;(res as http.ServerResponse).write(head)
      const timer = setInterval(() => { if (!res.destroyed) (res as http.ServerResponse).write(filler) }, 200)
      this.timers.add(timer)
      res.on('close', () => { clearInterval(timer); this.timers.delete(timer) })
      return
    }
    let answer: Answer
    if (action === 'pass') answer = await this.forward(request)
    else if ('rewrite' in action) answer = action.rewrite(await this.forward(request))
    else answer = action
    this.send(res, answer)
  }

  private later (ms: number, fn: () => void): void {
    const timer = setTimeout(() => { this.timers.delete(timer); fn() }, ms)
    this.timers.add(timer)
  }

  /** Drops the exchange mid-way: RST_STREAM on HTTP/2, the TCP connection on HTTP/1.1. */
  private drop (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void {
    if ('stream' in res) {
      res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR)
      return
    }
    const socket = (req as http.IncomingMessage).socket
    // a TLS socket cannot send a RST itself: destroying it cuts the body just the same
    if (this.options.tls === undefined && typeof socket.resetAndDestroy === 'function') socket.resetAndDestroy()
    else socket.destroy()
  }

  private send (res: http.ServerResponse | http2.Http2ServerResponse, answer: Answer): void {
    if (res.destroyed) return
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(answer.headers ?? {})) if (!HOP_BY_HOP.has(k.toLowerCase()) && !k.startsWith(':') && k.toLowerCase() !== 'content-length') headers[k] = v
    const body = answer.body === undefined ? Buffer.alloc(0) : Buffer.from(answer.body)
    if (!('stream' in res)) headers['content-length'] = String(body.length)
    res.writeHead(answer.status, headers)
    if (answer.trailers !== undefined && 'addTrailers' in res) res.addTrailers(answer.trailers)
    res.end(body)
  }

  private async forward (req: GateRequest): Promise<Answer> {
    return this.options.http2 === true && req.headers['content-type']?.toString().startsWith('application/grpc') === true
      ? await this.forwardH2(req)
      : await this.forwardH1(req)
  }

  private async forwardH1 (req: GateRequest): Promise<Answer> {
    const { upstream } = this.options
    const host = String(req.headers.host ?? req.headers[':authority'] ?? '127.0.0.1')
    const headers: Record<string, string | string[]> = {}
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !k.startsWith(':')) headers[k] = v
    headers.host = host
    const client = upstream.tls ? https : http
    return await new Promise<Answer>((resolve, reject) => {
      const r = client.request({
        host: '127.0.0.1',
        port: upstream.port,
        method: req.method,
        path: req.path,
        headers,
        servername: upstream.tls ? host.replace(/:\d+$/, '') : undefined,
        rejectUnauthorized: false // our own fake on loopback, behind our own gate
      }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: flatten(res.headers), body: Buffer.concat(chunks) }))
        res.on('error', reject)
      })
      r.on('error', reject)
      r.end(req.body)
    })
  }

  private async forwardH2 (req: GateRequest): Promise<Answer> {
    const { upstream } = this.options
    const authority = String(req.headers[':authority'] ?? req.headers.host ?? '127.0.0.1')
    if (this.h2upstream === undefined || this.h2upstream.destroyed || this.h2upstream.closed) {
      this.h2upstream = http2.connect(`https://127.0.0.1:${upstream.port}`, { servername: authority.replace(/:\d+$/, ''), rejectUnauthorized: false })
      this.h2upstream.on('error', () => {})
    }
    const headers: http2.OutgoingHttpHeaders = { ':method': req.method, ':path': req.path, ':authority': authority }
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !k.startsWith(':') && !HOP_BY_HOP.has(k)) headers[k] = v
    headers.te = 'trailers'
    const stream = this.h2upstream.request(headers, { endStream: false })
    return await new Promise<Answer>((resolve, reject) => {
      let status = 200
      let responseHeaders: Record<string, string> = {}
      let trailers: Record<string, string> | undefined
      const chunks: Buffer[] = []
      stream.on('response', (h) => { status = Number(h[':status']); responseHeaders = flatten(h) })
      stream.on('trailers', (h) => { trailers = flatten(h) })
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks), trailers }))
      stream.on('error', reject)
      stream.end(req.body)
    })
  }
}

function flatten (headers: http.IncomingHttpHeaders | http2.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !k.startsWith(':')) out[k] = Array.isArray(v) ? v.join(', ') : String(v)
  return out
}

function contentTypeFor (req: GateRequest): string {
  const accept = String(req.headers['content-type'] ?? '')
  if (accept.startsWith('application/grpc')) return 'application/grpc'
  if (accept.includes('amz-json')) return accept
  return 'application/json'
}

/** A loopback port with nothing listening: connections to it are refused. */
export async function refusedPort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** Policy helpers. */
export const faults = {
  always: (action: GateAction): GatePolicy => () => action,
  /** `action` for the first `times` requests, then pass */
  first: (times: number, action: GateAction): GatePolicy => (_req, n) => n < times ? action : 'pass',
  /** `action` for requests matching `match`, pass for the others */
  when: (match: (req: GateRequest) => boolean, action: GateAction | GatePolicy): GatePolicy => {
    let n = 0
    return (req) => {
      if (!match(req)) return 'pass'
      return typeof action === 'function' ? action(req, n++) : action
    }
  }
}
