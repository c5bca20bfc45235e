import { ClientCache } from '../../shared/client-cache.js'
import type { AwsClientConstructor, AwsCredentialsProvider, AwsSdkClient } from './public.js'

export type { AwsClients, AwsCredentials, AwsCredentialsProvider, AwsSdkClient, AwsClientConstructor } from './public.js'

/** Builds and remembers every client handed to the app, so close() can destroy them all. */
export class AwsClientFactory {
  private readonly made = new ClientCache('app.cloud.aws.client()')
  private readonly owned: AwsSdkClient[] = []
  private closed = false

  constructor (private readonly credentials: AwsCredentialsProvider, private readonly region: string) {}

  client<C extends AwsSdkClient>(Ctor: AwsClientConstructor<C>, config?: Record<string, unknown>): C {
    if (this.closed) throw new Error('fastify-cloud-secrets: app.cloud.aws.client() called after the app closed')
    // client(S3Client) and client(S3Client, {}) are one client
    const args = config === undefined || Object.keys(config).length === 0 ? [] : [config]
    return this.made.get(Ctor, args, () => new Ctor({ region: this.region, credentials: this.credentials, ...config }))
  }

  /** a client for the plugin's own use (not memoised), destroyed on close */
  own<C extends AwsSdkClient>(client: C): C {
    this.owned.push(client)
    return client
  }

  close (): void {
    this.closed = true
    for (const client of [...this.owned, ...this.made.all() as AwsSdkClient[]]) {
      try {
        client.destroy()
      } catch {
        // a client that fails to destroy must not stop the others
      }
    }
    this.made.close()
    this.owned.length = 0
  }
}
