import type { AwsClientConstructor, AwsCredentialsProvider, AwsSdkClient } from './public.js'

export type { AwsClients, AwsCredentials, AwsCredentialsProvider, AwsSdkClient, AwsClientConstructor } from './public.js'

function sameConfig (a: Record<string, unknown> | undefined, b: Record<string, unknown> | undefined): boolean {
  const ka = Object.keys(a ?? {})
  const kb = Object.keys(b ?? {})
  return ka.length === kb.length && ka.every((k) => Object.is(a?.[k], b?.[k]))
}

/** Builds and remembers every client handed to the app, so close() can destroy them all. */
export class AwsClientFactory {
  private readonly made = new Map<AwsClientConstructor<AwsSdkClient>, Array<{ config?: Record<string, unknown>, client: AwsSdkClient }>>()
  private readonly owned: AwsSdkClient[] = []
  private closed = false

  constructor (private readonly credentials: AwsCredentialsProvider, private readonly region: string) {}

  client<C extends AwsSdkClient>(Ctor: AwsClientConstructor<C>, config?: Record<string, unknown>): C {
    if (this.closed) throw new Error('fastify-cloud-secrets: app.cloud.aws.client() called after the app closed')
    const list = this.made.get(Ctor) ?? []
    const hit = list.find((entry) => sameConfig(entry.config, config))
    if (hit !== undefined) return hit.client as C
    const client = new Ctor({ region: this.region, credentials: this.credentials, ...config })
    list.push({ config: config === undefined ? undefined : { ...config }, client })
    this.made.set(Ctor, list)
    return client
  }

  /** a client for the plugin's own use (not memoised), destroyed on close */
  own<C extends AwsSdkClient>(client: C): C {
    this.owned.push(client)
    return client
  }

  close (): void {
    this.closed = true
    for (const client of [...this.owned, ...[...this.made.values()].flat().map((e) => e.client)]) {
      try {
        client.destroy()
      } catch {
        // a client that fails to destroy must not stop the others
      }
    }
    this.made.clear()
    this.owned.length = 0
  }
}
