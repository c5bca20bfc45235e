import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import type { RequestLifetime } from './request-lifetime.js'

/**
 * One GET a provider sends before its SDK import (container credentials, the metadata server's
 * token), on its own connection: the body of an answer `accept` takes, else undefined — an answer
 * it drops ends the exchange at once (its body may never end), and so does the lifetime (the
 * startup deadline, or the provider closing). Network errors reject.
 */
export async function earlyGet (url: string | URL, headers: Record<string, string>, lifetime: RequestLifetime, accept: (response: IncomingMessage) => boolean): Promise<string | undefined> {
  const link = lifetime.link()
  const target = typeof url === 'string' ? new URL(url) : url
  try {
    return await new Promise<string | undefined>((resolve, reject) => {
      const request = (target.protocol === 'https:' ? https : http).get(target, { headers, signal: link.signal, agent: false }, (response) => {
        if (!accept(response)) {
          request.destroy()
          resolve(undefined)
          return
        }
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => { body += chunk })
        response.on('end', () => { resolve(body) })
        response.on('error', reject)
      })
      request.on('error', reject)
    })
  } finally {
    link.release()
  }
}
