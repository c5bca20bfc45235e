import { existsSync } from 'node:fs'
import type { Env } from '../../../shared/env.js'
import { nonEmpty } from '../../../shared/env.js'
import { earlyGet } from '../../../shared/early-get.js'
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
    for (const path of EARLY_PATHS) {
      const answer = earlyGet(`${baseUrl}/computeMetadata/v1/${path}`, { 'Metadata-Flavor': 'Google' }, lifetime, (res) => res.statusCode === 200 && res.headers['metadata-flavor'] === 'Google')
      this.pending.set(path, answer.catch(() => undefined))
    }
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
