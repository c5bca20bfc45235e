import type { ChildProcess } from 'node:child_process'
import { inspect } from 'node:util'
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager'
import type { Identity, Logger } from '../../types.js'
import type { GoogleAuth } from './gax.js'
import type { AuthTransport } from './transport.js'
import { GLOBAL_ENDPOINT } from './secrets.js'
import { ClientCache } from '../../shared/client-cache.js'
import { killProcessTree } from '../../shared/child-process.js'

import type { GcpClients, GoogleClientConstructor } from './public.js'

export type { GcpClients, GoogleClientConstructor } from './public.js'

type SecretManagerConstructor = new (options?: Record<string, unknown>) => SecretManagerServiceClient

/** Owns every client and connection the gcp provider creates, and closes them all. */
export class GcpClientRegistry {
  readonly children = new Set<ChildProcess>()
  private readonly secretManagers = new Map<string, SecretManagerServiceClient>()
  private readonly built = new ClientCache('app.cloud.gcp.client()')
  private auth?: GoogleAuth
  private projectId?: string
  private closed = false

  private SecretManager?: SecretManagerConstructor

  /** @param loadSecretManager the client class, loaded on first use (google-gax comes with it) */
  constructor (
    private readonly loadSecretManager: () => SecretManagerConstructor,
    private readonly transport: AuthTransport,
    private readonly log: Logger
  ) {}

  /**
   * Called with the shared GoogleAuth before any token is requested. `eager`: build the Secret
   * Manager client now, which configures the GoogleAuth (self-signed JWTs for a key file);
   * otherwise it is built when the app first reads app.cloud.gcp.secretManager. The startup reads
   * do not use it (reader.ts), so its channel opens only when the app calls it.
   */
  useAuth (auth: GoogleAuth, projectId: string | undefined, eager: boolean): void {
    this.auth = auth
    this.projectId = projectId
    if (eager) this.secretManagerFor(GLOBAL_ENDPOINT)
  }

  setProjectId (projectId: string | undefined): void {
    this.projectId = projectId
  }

  /** One Secret Manager client per endpoint (global, or secretmanager.L.rep.googleapis.com for regional secrets). */
  secretManagerFor (endpoint: string): SecretManagerServiceClient {
    let client = this.secretManagers.get(endpoint)
    if (client === undefined) {
      if (this.closed) throw new Error('fastify-cloud-secrets: the gcp provider is closed')
      this.SecretManager ??= this.loadSecretManager()
      client = new this.SecretManager({
        auth: this.auth,
        ...(endpoint === GLOBAL_ENDPOINT ? {} : { apiEndpoint: endpoint }),
        // no DNS TXT lookup for a gRPC service config: Google APIs publish none, and it is one more query at boot
        'grpc.service_config_disable_resolution': 1
      })
      this.secretManagers.set(endpoint, client)
    }
    return client
  }

  handles (identity: Identity): GcpClients {
    const auth = this.auth as GoogleAuth
    const registry = this
    const handles: GcpClients = {
      auth,
      projectId: this.projectId,
      // built on first read: its protobuf descriptors cost ~100 ms of CPU a boot that only loads secrets need not pay
      get secretManager () {
        return registry.secretManagerFor(GLOBAL_ENDPOINT)
      },
      identity,
      async getAccessToken () {
        const token = await auth.getAccessToken()
        if (token === null || token === undefined) throw new Error('google-auth-library returned no access token')
        return token
      },
      client<T extends object> (Ctor: GoogleClientConstructor<T>, options?: Record<string, unknown>): T {
        return registry.build(Ctor, options)
      }
    }
    // app.cloud.gcp holds the GoogleAuth, whose credential caches tokens: print a summary instead
    const summary = (): Record<string, unknown> => ({ projectId: this.projectId, identity, clients: [...this.secretManagers.keys(), ...this.built.names()] })
    Object.defineProperty(handles, 'toJSON', { value: summary, enumerable: false })
    Object.defineProperty(handles, inspect.custom, { value: (_depth: number, opts: object) => `GcpClients ${inspect(summary(), { ...opts, depth: 3 })}`, enumerable: false })
    return Object.freeze(handles)
  }

  private build<T extends object> (Ctor: GoogleClientConstructor<T>, options?: Record<string, unknown>): T {
    if (this.closed) throw new Error('fastify-cloud-secrets: the gcp provider is closed')
    // one client per constructor and options: client(Storage, { apiEndpoint }) is not client(Storage)
    const args = options === undefined || Object.keys(options).length === 0 ? [] : [options]
    return this.built.get(Ctor, args, () => new Ctor({ auth: this.auth, projectId: this.projectId, ...options }))
  }

  /** Closes every client (gRPC channels included), aborts token requests in flight, ends gcloud. */
  async close (): Promise<void> {
    this.closed = true
    this.transport.close()
    for (const child of this.children) killProcessTree(child)
    this.children.clear()
    const clients: object[] = [...this.secretManagers.values(), ...this.built.all()]
    this.secretManagers.clear()
    this.built.close()
    await Promise.all(clients.map(async (client) => {
      const close = (client as { close?: () => unknown }).close
      if (typeof close !== 'function') return
      try {
        await close.call(client)
      } catch (err) {
        this.log.debug({ err: { message: (err as Error).message } }, 'closing a Google Cloud client failed')
      }
    }))
  }
}
