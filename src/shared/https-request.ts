import http, { type IncomingHttpHeaders } from 'node:http'
import https from 'node:https'
import type { RequestLifetime } from './request-lifetime.js'

/**
 * One HTTPS exchange of the plugin's own store calls (Key Vault's Get Secret, Secrets Manager,
 * STS): over the provider's warm keep-alive pool, ended by the caller's signal, the startup
 * deadline or the provider's close (its RequestLifetime), the answer's body capped.
 */
export interface HttpsAnswer { status: number, headers: IncomingHttpHeaders, body: Buffer }

export interface HttpsRequest {
  method: 'GET' | 'POST'
  headers: Record<string, string>
  body?: string
  agent: https.Agent
  signal: AbortSignal
  lifetime: RequestLifetime
  /** largest body accepted; a bigger answer is an error */
  maxBody: number
}

export async function httpsRequest (url: URL, r: HttpsRequest): Promise<HttpsAnswer> {
  const linked = r.lifetime.link(r.signal)
  try {
    return await new Promise<HttpsAnswer>((resolve, reject) => {
      const headers = r.body !== undefined ? { ...r.headers, 'content-length': String(Buffer.byteLength(r.body)) } : r.headers
      // an endpoint override may be plain http (a local emulator): Node's own agent then, not the TLS pool
      const send = url.protocol === 'http:' ? http.request : https.request
      const req = send(url, { method: r.method, agent: url.protocol === 'http:' ? undefined : r.agent, headers, signal: linked.signal }, (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > r.maxBody) { req.destroy(new Error(`the answer of ${url.host} is larger than ${r.maxBody} bytes`)); return }
          chunks.push(chunk)
        })
        res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }) })
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(r.body)
    })
  } finally {
    linked.release()
  }
}

/** a header's value (joined when repeated) */
export function headerOf (headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name.toLowerCase()]
  return Array.isArray(v) ? v.join(', ') : v
}
