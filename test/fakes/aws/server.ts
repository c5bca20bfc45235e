import http from 'node:http'
import https from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { ConnectionClock, peerOf } from '../connection-cost.js'

/** Fault injection, per fake; change it between requests (`fake.faults = { … }`). */
export interface Faults {
  /** added before every answer */
  latencyMs?: number
  /** TLS fakes: a request on a connection younger than this waits until it is this old (handshake cost) */
  connectionMs?: number
  /** accept the request and never answer (until the fake closes) */
  hang?: boolean
  /** answer the next N requests with the service's 5xx error */
  serverErrors?: number
  /** answer the next N requests with the service's throttling error */
  throttles?: number
  /** Retry-After header sent with a throttling answer (seconds or HTTP date) */
  retryAfter?: string
}

export interface FakeRequest {
  method: string
  path: string
  url: URL
  headers: http.IncomingHttpHeaders
  body: string
}

export interface FakeAnswer {
  status: number
  headers?: Record<string, string>
  body?: string
}

export interface FakeServerOptions {
  /** for counters and errors */
  name: string
  /** https with this key/certificate (a test CA's), else plain http */
  tls?: { key: string, cert: string }
  /** the request kind counted in `counts` (e.g. GetSecretValue) */
  kindOf: (req: FakeRequest) => string
  handle: (req: FakeRequest, kind: string) => FakeAnswer | Promise<FakeAnswer>
  /** the service's own shape of a throttling or 5xx answer */
  fault: (kind: 'throttle' | 'server', req: FakeRequest) => FakeAnswer
}

/**
 * One fake AWS endpoint on 127.0.0.1: counts requests by kind, injects faults, and closes
 * every connection (hung ones included) on close(). Reusable by benchmarks.
 */
export class FakeServer {
  readonly counts: Record<string, number> = {}
  readonly requests: Array<{ kind: string, path: string, headers: http.IncomingHttpHeaders }> = []
  /** connections accepted, and their age for `faults.connectionMs` */
  readonly connections = new ConnectionClock()
  faults: Faults = {}
  port = 0
  private readonly server: http.Server
  private readonly sockets = new Set<Socket>()
  private readonly hung = new Set<http.ServerResponse>()

  constructor (private readonly serverOptions: FakeServerOptions) {
    const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => { this.serve(req, res) }
    this.server = serverOptions.tls !== undefined ? https.createServer({ key: serverOptions.tls.key, cert: serverOptions.tls.cert }, listener) : http.createServer(listener)
    this.connections.watch(this.server)
    this.server.on(serverOptions.tls !== undefined ? 'secureConnection' : 'connection', (socket: Socket) => {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
    })
  }

  get url (): string {
    return `${this.serverOptions.tls !== undefined ? 'https' : 'http'}://127.0.0.1:${this.port}`
  }

  /** requests of `kind` so far */
  count (kind: string): number {
    return this.counts[kind] ?? 0
  }

  /** client connections currently open (keep-alive ones included) */
  get openConnections (): number {
    return this.sockets.size
  }

  /** requests currently held by `hang` */
  get hanging (): number {
    return this.hung.size
  }

  async start (): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as AddressInfo).port
    return this
  }

  async close (): Promise<void> {
    for (const res of this.hung) res.destroy()
    this.hung.clear()
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  private serve (req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake')
      const request: FakeRequest = { method: req.method ?? 'GET', path: url.pathname, url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }
      this.answer(request, res, peerOf(req.socket)).catch(() => { res.destroy() })
    })
  }

  private async answer (req: FakeRequest, res: http.ServerResponse, peer: string): Promise<void> {
    const kind = this.serverOptions.kindOf(req)
    this.counts[kind] = (this.counts[kind] ?? 0) + 1
    this.requests.push({ kind, path: req.path, headers: req.headers })
    const faults = this.faults
    if (faults.hang === true) {
      this.hung.add(res)
      res.on('close', () => this.hung.delete(res))
      return
    }
    if (this.serverOptions.tls !== undefined) await this.connections.settle(faults.connectionMs, peer)
    if (faults.latencyMs !== undefined && faults.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, faults.latencyMs))
    let answer: FakeAnswer
    if ((faults.throttles ?? 0) > 0) {
      faults.throttles = (faults.throttles ?? 0) - 1
      answer = this.serverOptions.fault('throttle', req)
      if (faults.retryAfter !== undefined) answer = { ...answer, headers: { ...answer.headers, 'retry-after': faults.retryAfter } }
    } else if ((faults.serverErrors ?? 0) > 0) {
      faults.serverErrors = (faults.serverErrors ?? 0) - 1
      answer = this.serverOptions.fault('server', req)
    } else {
      try {
        answer = await this.serverOptions.handle(req, kind)
      } catch (err) {
        answer = { status: 500, body: `fake ${this.serverOptions.name} failed: ${(err as Error).message}` }
      }
    }
    if (res.destroyed) return
    res.writeHead(answer.status, answer.headers)
    res.end(answer.body ?? '')
  }
}
