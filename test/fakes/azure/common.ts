import { randomBytes, randomUUID } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { ConnectionClock, peerOf } from '../connection-cost.js'

/** A principal the fakes issue tokens for (an app registration, a managed identity or a user). */
export interface FakePrincipal {
  oid: string
  tid: string
  appid?: string
  idtyp: 'app' | 'user'
  /** managed identities: the resource id (system-assigned: the resource; user-assigned: the identity) */
  xms_mirid?: string
  upn?: string
}

export function randomPrincipal (overrides: Partial<FakePrincipal> = {}): FakePrincipal {
  return { oid: randomUUID(), tid: randomUUID(), appid: randomUUID(), idtyp: 'app', ...overrides }
}

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

/** Every token any fake minted, so Key Vault can tell who calls (tokens are unsigned JWTs). */
export class TokenRegistry {
  readonly issued = new Map<string, { principal: FakePrincipal, aud: string, exp: number }>()

  /** An unsigned JWT (header.payload.sig) with realistic claims; random per call. */
  mint (principal: FakePrincipal, resource: string, lifetimeS = 3600): { token: string, exp: number } {
    const now = Math.floor(Date.now() / 1000)
    const exp = now + lifetimeS
    const aud = resource.replace(/\/\.default$/, '').replace(/\/$/, '')
    const payload: Record<string, unknown> = {
      aud,
      iss: `https://sts.windows.net/${principal.tid}/`,
      iat: now - 5,
      nbf: now - 5,
      exp,
      aio: randomBytes(24).toString('base64url'),
      oid: principal.oid,
      sub: principal.oid,
      tid: principal.tid,
      idtyp: principal.idtyp,
      uti: randomBytes(16).toString('base64url'),
      ver: '1.0'
    }
    if (principal.appid !== undefined) { payload.appid = principal.appid; payload.appidacr = '2' }
    if (principal.xms_mirid !== undefined) payload.xms_mirid = principal.xms_mirid
    if (principal.upn !== undefined) { payload.upn = principal.upn; payload.unique_name = principal.upn }
    const token = `${b64({ typ: 'JWT', alg: 'RS256', x5t: randomBytes(20).toString('base64url'), kid: randomBytes(20).toString('base64url') })}.${b64(payload)}.${randomBytes(64).toString('base64url')}`
    this.issued.set(token, { principal, aud, exp })
    return { token, exp }
  }

  all (): string[] {
    return [...this.issued.keys()]
  }
}

/** Fault injection, shared by every fake: applied to each request before the fake answers. */
export interface Faults {
  /** delay every answer */
  latencyMs?: number
  /** TLS fakes: a request on a connection younger than this waits until it is this old (handshake cost) */
  connectionMs?: number
  /** accept requests and never answer */
  hang?: boolean
  /** answered one per request, in order, before normal service resumes */
  script?: Array<{ status: number, retryAfter?: string, body?: unknown }>
  /** a token bucket over the requests `accepts` (Key Vault's per-vault limit): above it, 429 + Retry-After */
  rateLimit?: { perSecond: number, burst: number, retryAfterS?: number }
}

export abstract class FakeServer {
  readonly faults: Faults = {}
  /** requests seen, by "METHOD /path" (no query) */
  readonly counts = new Map<string, number>()
  total = 0
  /** requests refused by `faults.rateLimit` */
  throttled = 0
  port = 0
  /** connections accepted, and their age for `faults.connectionMs` */
  readonly connections = new ConnectionClock()
  private tls = false
  private bucket = { tokens: Number.NaN, at: 0 }
  protected server?: http.Server | https.Server
  private readonly sockets = new Set<Socket>()

  count (key: string): number {
    return this.counts.get(key) ?? 0
  }

  /** requests whose key matches */
  countMatching (re: RegExp): number {
    let n = 0
    for (const [k, v] of this.counts) if (re.test(k)) n += v
    return n
  }

  async start (tls?: { key: string, cert: string }): Promise<this> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => { this.dispatch(req, res).catch(() => res.destroy()) }
    this.server = tls !== undefined ? https.createServer({ key: tls.key, cert: tls.cert }, handler) : http.createServer(handler)
    this.tls = tls !== undefined
    this.connections.watch(this.server)
    this.server.on(tls !== undefined ? 'secureConnection' : 'connection', (socket: Socket) => {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
    })
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as AddressInfo).port
    return this
  }

  async close (): Promise<void> {
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => { this.server?.close(() => resolve()) ?? resolve() })
  }

  private async dispatch (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake')
    const key = `${req.method ?? 'GET'} ${url.pathname}`
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
    this.total++
    const body = await readBody(req)
    if (this.faults.hang === true) return
    if (this.tls) await this.connections.settle(this.faults.connectionMs, peerOf(req.socket))
    if (this.faults.latencyMs !== undefined) await new Promise((resolve) => setTimeout(resolve, this.faults.latencyMs))
    const limit = this.faults.rateLimit
    if (limit !== undefined && this.accepts(req, url) && !this.take(limit)) {
      this.throttled++
      json(res, 429, defaultErrorBody(429), { 'retry-after': String(limit.retryAfterS ?? 1) })
      return
    }
    const scripted = this.faults.script?.shift()
    if (scripted !== undefined && this.accepts(req, url)) {
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-ms-request-id': randomUUID() }
      if (scripted.retryAfter !== undefined) headers['retry-after'] = scripted.retryAfter
      res.writeHead(scripted.status, headers).end(JSON.stringify(scripted.body ?? defaultErrorBody(scripted.status)))
      return
    }
    if (scripted !== undefined) this.faults.script?.unshift(scripted)
    this.handle(req, res, url, body)
  }

  private take (limit: { perSecond: number, burst: number }): boolean {
    const now = Date.now()
    const b = this.bucket
    b.tokens = Number.isNaN(b.tokens) ? limit.burst : Math.min(limit.burst, b.tokens + (now - b.at) * limit.perSecond / 1000)
    b.at = now
    if (b.tokens < 1) return false
    b.tokens--
    return true
  }

  /** which requests the fault script applies to (default: all) */
  protected accepts (_req: http.IncomingMessage, _url: URL): boolean {
    return true
  }

  protected abstract handle (req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: string): void
}

function defaultErrorBody (status: number): unknown {
  if (status === 429) return { error: { code: 'Throttled', message: 'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached' } }
  return { error: { code: 'InternalServerError', message: `The service encountered an internal error (fault injection, HTTP ${status}).` } }
}

async function readBody (req: http.IncomingMessage): Promise<string> {
  let body = ''
  for await (const chunk of req) body += String(chunk)
  return body
}

export function json (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'x-ms-request-id': randomUUID(), ...headers }).end(JSON.stringify(body))
}
