import type { AuthClient, GaxModule, Gaxios, GaxiosOptions, GaxiosPromise } from '../gax.js'
import type { EarlyMetadata } from './early-metadata.js'

/**
 * The metadata-server credential (Cloud Run, GKE Workload Identity, GCE, App Engine, Cloud
 * Functions), as an AuthClient that GoogleAuth and every Google client library accept. It goes
 * through our transport (abortable, no hidden retries) instead of gcp-metadata's module-level
 * requests, which wait forever on a silent metadata server when K_SERVICE is set.
 */
export interface MetadataCredential extends AuthClient {
  readonly baseUrl: string
  readonly expiresAt?: number
  metadata: (path: string) => Promise<string>
  tokenForScopes: (scopes: readonly string[]) => Promise<{ token: string, expiresAt: number }>
}

export function createMetadataCredential (gax: GaxModule, transporter: Gaxios, baseUrl: string, early?: EarlyMetadata): MetadataCredential {
  class GcpMetadataCredential extends gax.googleAuthLibrary.AuthClient implements MetadataCredential {
    readonly baseUrl = baseUrl
    expiresAt?: number
    #token?: string
    #pending?: Promise<{ token: string, expiresAt: number }>

    constructor () {
      super({ transporter })
    }

    async metadata (path: string): Promise<string> {
      // the first token / email: the answer to the request sent before the SDK import, when it was a good one
      const answered = await early?.take(this.baseUrl, path)
      if (answered !== undefined) return answered.trim()
      const res = await this.transporter.request<string>({
        url: `${this.baseUrl}/computeMetadata/v1/${path}`,
        headers: { 'Metadata-Flavor': 'Google' },
        responseType: 'text'
      })
      if (res.headers.get('metadata-flavor') !== 'Google') {
        throw Object.assign(new Error(`${this.baseUrl} answered without the Metadata-Flavor: Google header (not a metadata server)`), { status: res.status })
      }
      return String(res.data).trim()
    }

    async tokenForScopes (scopes: readonly string[]): Promise<{ token: string, expiresAt: number }> {
      const query = scopes.length > 0 ? `?scopes=${encodeURIComponent(scopes.join(','))}` : ''
      const body = JSON.parse(await this.metadata(`instance/service-accounts/default/token${query}`)) as { access_token?: unknown, expires_in?: unknown }
      if (typeof body.access_token !== 'string') throw new Error('the metadata server answered without an access_token')
      return { token: body.access_token, expiresAt: Date.now() + (typeof body.expires_in === 'number' ? body.expires_in : 300) * 1000 }
    }

    async getAccessToken (): Promise<{ token: string, res: null }> {
      // refresh 5 minutes early, like google-auth-library's clients
      if (this.#token !== undefined && (this.expiresAt ?? 0) - 300_000 > Date.now()) return { token: this.#token, res: null }
      this.#pending ??= this.tokenForScopes([]).finally(() => { this.#pending = undefined })
      const fresh = await this.#pending
      this.#token = fresh.token
      this.expiresAt = fresh.expiresAt
      return { token: fresh.token, res: null }
    }

    async getRequestHeaders (): Promise<Headers> {
      const { token } = await this.getAccessToken()
      return this.addSharedMetadataHeaders(new Headers({ authorization: `Bearer ${token}` }))
    }

    async request<T> (options: GaxiosOptions): GaxiosPromise<T> {
      const headers = new Headers(options.headers as ConstructorParameters<typeof Headers>[0])
      for (const [key, value] of await this.getRequestHeaders()) headers.set(key, value)
      return await this.transporter.request<T>({ ...options, headers })
    }
  }
  return new GcpMetadataCredential()
}
