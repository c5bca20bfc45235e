import type { ChildProcess } from 'node:child_process'
import type { GetTokenOptions, TokenCredential } from '@azure/core-auth'
import type { HttpClient, PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline'
import type { SecretClient, SecretClientOptions } from '@azure/keyvault-secrets'
import { inspect } from 'node:util'
import type { Identity } from '../../types.js'
import { killProcessTree } from '../../shared/child-process.js'
import { ClientCache } from '../../shared/client-cache.js'
import type { RequestLifetime } from '../../shared/request-lifetime.js'
import type { WarmAgent } from '../../shared/warm-agent.js'
import type { AzureClients } from './public.js'

type SecretsSdk = typeof import('@azure/keyvault-secrets')
type PipelineSdk = typeof import('@azure/core-rest-pipeline')

export type { AzureClients } from './public.js'

/** An HttpClient for every SDK object we create, whose requests live inside the provider's RequestLifetime. */
export class AbortableHttpClient implements HttpClient {
  /**
   * @param pooled Key Vault hosts whose requests use the warm keep-alive pool
   */
  constructor (private readonly inner: HttpClient, readonly scope: RequestLifetime, private readonly pool?: WarmAgent, private readonly pooled: ReadonlySet<string> = new Set()) {}

  async sendRequest (request: PipelineRequest): Promise<PipelineResponse> {
    const original = request.abortSignal
    const linked = this.scope.link(original)
    request.abortSignal = linked.signal
    if (this.pool !== undefined && request.agent === undefined && request.url.startsWith('https://') && this.pooled.has(new URL(request.url).host.toLowerCase())) request.agent = this.pool
    try {
      return await this.inner.sendRequest(request)
    } finally {
      request.abortSignal = original
      linked.release()
    }
  }
}

export interface ClientsInit {
  /** the Key Vault SDK, loaded (synchronously, CommonJS) when the app builds its first SecretClient */
  secretsSdk: () => SecretsSdk
  /** its pipeline, loaded when an SDK object sends its first request */
  pipelineSdk: () => PipelineSdk
  credential: TokenCredential
  defaultVaultUrl?: string
  identity: () => Identity
  children: Set<ChildProcess>
  scope: RequestLifetime
  /** the Key Vault connection pool (warmed while the identity resolves) */
  pool?: WarmAgent
}

export interface AzureClientsHandle {
  /** our abortable transport for the SDK's objects (credentials, SecretClient); the pipeline loads on its first request */
  httpClient: HttpClient
  /** Key Vault hosts whose SDK requests use the warm pool */
  pooled: Set<string>
  secretClient: (vaultUrl?: string) => SecretClient
  clients: () => AzureClients
  close: () => Promise<void>
}

/** Key Vault clients: our abortable transport, no SDK retries (the plugin retries inside the deadline). */
export function secretClientOptions (httpClient: HttpClient): SecretClientOptions {
  return {
    httpClient,
    retryOptions: { maxRetries: 0 },
    // the vault's 401 challenge must name a resource whose domain matches the vault host
    disableChallengeResourceVerification: false
  }
}

export function createClients (init: ClientsInit): AzureClientsHandle {
  const pooled = new Set<string>()
  let transport: AbortableHttpClient | undefined
  const httpClient: HttpClient = {
    sendRequest: async (request) => {
      transport ??= new AbortableHttpClient(init.pipelineSdk().createDefaultHttpClient(), init.scope, init.pool, pooled)
      return await transport.sendRequest(request)
    }
  }
  const vaults = new Map<string, SecretClient>()
  const built = new ClientCache('app.cloud.azure.client()')
  let view: AzureClients | undefined

  const secretClient = (vaultUrl?: string): SecretClient => {
    const raw = vaultUrl ?? init.defaultVaultUrl
    if (raw === undefined) throw new TypeError('secretClient(): no vault URL given and AZURE_KEYVAULT_URL is not set')
    const url = new URL(raw)
    if (url.protocol !== 'https:') throw new TypeError('secretClient(): Key Vault needs an https:// vault URL')
    const key = `https://${url.host.toLowerCase()}`
    let client = vaults.get(key)
    if (client === undefined) {
      client = new (init.secretsSdk().SecretClient)(key, init.credential, secretClientOptions(httpClient))
      vaults.set(key, client)
    }
    return client
  }

  const client = <C extends abstract new (...args: any[]) => any>(Ctor: C, ...args: any[]): InstanceType<C> => {
    if (typeof Ctor !== 'function') throw new TypeError('client(Ctor, ...args): Ctor must be an Azure SDK client class')
    let ctorArgs = args
    if (!args.includes(init.credential)) {
      let at = 0
      while (at < args.length && typeof args[at] === 'string') at++
      ctorArgs = [...args.slice(0, at), init.credential, ...args.slice(at)]
    }
    return built.get(Ctor, args, () => new (Ctor as unknown as new (...a: unknown[]) => InstanceType<C>)(...ctorArgs))
  }

  const clients = (): AzureClients => {
    if (view !== undefined) return view
    const handles: Record<string | symbol, unknown> = {
      credential: init.credential,
      secretClient,
      getToken: async (scope: string | string[], options?: GetTokenOptions) => {
        const token = await init.credential.getToken(scope, options)
        if (token === null) throw new Error(`no token for ${String(scope)}`)
        return token
      },
      client
    }
    Object.defineProperty(handles, 'identity', { get: init.identity, enumerable: true })
    // the credential and clients are opaque handles: printing app.cloud.azure shows names only
    Object.defineProperty(handles, inspect.custom, { value: () => `AzureClients { identity: ${inspect(init.identity(), { depth: 2 })}, vaults: [${[...vaults.keys()].join(', ')}] }`, enumerable: false })
    Object.defineProperty(handles, 'toJSON', { value: () => ({ identity: init.identity(), vaults: [...vaults.keys()] }), enumerable: false })
    view = Object.freeze(handles) as unknown as AzureClients
    return view
  }

  const close = async (): Promise<void> => {
    init.scope.close()
    init.pool?.destroy()
    for (const child of init.children) killProcessTree(child)
    init.children.clear()
    const closing: Array<Promise<unknown>> = []
    for (const instance of built.all()) {
      const fn = (instance as { close?: () => unknown }).close
      if (typeof fn === 'function') closing.push(Promise.resolve().then(() => fn.call(instance)).catch(() => {}))
    }
    built.close()
    await Promise.all(closing)
    vaults.clear()
  }

  return { httpClient, pooled, secretClient, clients, close }
}
