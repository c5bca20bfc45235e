import { existsSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import type { Env } from '../../../shared/env.js'
import { nonEmpty } from '../../../shared/env.js'
import type { RequestLifetime } from '../../../shared/request-lifetime.js'
import { metadataBaseUrl, SERVERLESS_MARKERS } from '../platform.js'
import { wellKnownCredentialFile } from './files.js'

/** what the identity step asks the metadata server first: the token, and the account's email */
export const EARLY_PATHS = ['instance/service-accounts/default/token', 'instance/service-accounts/default/email'] as const

/**
 * The metadata server's token and email requests (Cloud Run, Cloud Functions, App Engine), sent by
 * the plugin before it imports the SDK, so their round trip rides beside the import. Sent only
 * where the chain is certain to use the metadata server: no GOOGLE_APPLICATION_CREDENTIALS, no
 * gcloud application-default file, and a serverless runtime's marker (or
 * METADATA_SERVER_DETECTION=assume-present). The metadata credential (metadata.ts) takes each
 * answer once, when it is one it would accept itself (200 and `Metadata-Flavor: Google`);
 * anything else is dropped and the credential asks again and reports as always.
 */
export class EarlyMetadata {
  private readonly pending = new Map<string, Promise<string | undefined>>()

  private constructor (readonly baseUrl: string, lifetime: RequestLifetime) {
    for (const path of EARLY_PATHS) this.pending.set(path, get(`${baseUrl}/computeMetadata/v1/${path}`, lifetime).catch(() => undefined))
  }

  static start (env: Env, lifetime: RequestLifetime): EarlyMetadata | undefined {
    if (nonEmpty(env.GOOGLE_APPLICATION_CREDENTIALS)) return undefined
    const marker = SERVERLESS_MARKERS.some((name) => env[name] !== undefined && env[name] !== '')
    if (!marker && (env.METADATA_SERVER_DETECTION ?? '').trim().toLowerCase() !== 'assume-present') return undefined
    if (existsSync(wellKnownCredentialFile(env))) return undefined
    const baseUrl = metadataBaseUrl(env)
    if (!/^https?:\/\//.test(baseUrl)) return undefined
    return new EarlyMetadata(baseUrl, lifetime)
  }

  /** the early answer to `path` (a body the credential accepts), once; undefined to ask again */
  async take (baseUrl: string, path: string): Promise<string | undefined> {
    if (baseUrl !== this.baseUrl) return undefined
    const pending = this.pending.get(path)
    this.pending.delete(path)
    return await pending
  }
}

async function get (url: string, lifetime: RequestLifetime): Promise<string | undefined> {
  const link = lifetime.link()
  try {
    return await new Promise<string | undefined>((resolve, reject) => {
      const request = (url.startsWith('https:') ? https : http).get(url, { headers: { 'Metadata-Flavor': 'Google' }, signal: link.signal, agent: false }, (response) => {
        if (response.statusCode !== 200 || response.headers['metadata-flavor'] !== 'Google') {
          // an answer we drop: end the exchange now (its body may never end)
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
