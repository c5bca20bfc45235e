import type * as SecretsManagerSdk from '@aws-sdk/client-secrets-manager'
import { importFromSdk, importSdk } from '../../shared/sdk.js'
import type { AwsCredentials, AwsCredentialsProvider } from './clients.js'

/**
 * Everything the AWS provider needs, reached from the one package the user installs,
 * `@aws-sdk/client-secrets-manager`, through its own dependency tree: the credential chain and
 * its sources (`@aws-sdk/credential-provider-node`, a direct dependency), and, for STS
 * GetCallerIdentity (which no package in that tree implements), the SDK's own SigV4 signer and
 * HTTP handler. Each piece is imported only when the path that needs it runs.
 */

export const MAIN_PACKAGE = '@aws-sdk/client-secrets-manager'
const CHAIN_PACKAGE = '@aws-sdk/credential-provider-node'

/** Options every credential source takes (the SDK's own `fromX(init)` shapes, loosely typed). */
export type SourceInit = Record<string, unknown>
export type SourceFactory = (init?: SourceInit) => AwsCredentialsProvider

/** The single sources of the default chain: the plugin's chain (env-chain.ts) is built from them. */
export interface CredentialSources {
  fromEnv: SourceFactory
  fromIni: SourceFactory
  fromSSO: SourceFactory
  fromTokenFile: SourceFactory
  fromHttp: SourceFactory
  fromContainerMetadata: SourceFactory
  fromInstanceMetadata: SourceFactory
}

export type SourceName = keyof CredentialSources

export interface HttpRequestLike {
  method: string
  protocol: string
  hostname: string
  port?: number
  path: string
  query: Record<string, string>
  headers: Record<string, string>
  body?: string
}

export interface HttpResponseLike {
  statusCode: number
  headers: Record<string, string | undefined>
  body: unknown
}

export interface HttpHandlerLike {
  handle: (request: HttpRequestLike, options?: { abortSignal?: AbortSignal, requestTimeout?: number }) => Promise<{ response: HttpResponseLike }>
  destroy: () => void
}

export interface SignerLike {
  sign: (request: HttpRequestLike, options?: { signingDate?: Date, signingRegion?: string, signingService?: string }) => Promise<HttpRequestLike>
}

/** A SHA-256 / HMAC-SHA-256 in the SDK's `Checksum` shape (what the signer takes as `sha256`). */
export type HashConstructor = new (secret?: string | Uint8Array) => { update: (data: string | Uint8Array) => void, digest: () => Promise<Uint8Array> }

export interface SigningSdk {
  SignatureV4: new (init: { credentials: AwsCredentials | AwsCredentialsProvider, region: string, service: string, sha256: HashConstructor, applyChecksum?: boolean, uriEscapePath?: boolean }) => SignerLike
  NodeHttpHandler: new (init: { connectionTimeout?: number, requestTimeout?: number, throwOnRequestTimeout?: boolean, httpsAgent?: unknown }) => HttpHandlerLike
  streamCollector: (stream: unknown) => Promise<Uint8Array>
}

/** The SDK's partition table (`@aws-sdk/core/client`), or undefined where that build lacks it. */
export type PartitionOf = (region: string) => { name: string, dnsSuffix: string, dualStackDnsSuffix: string, supportsFIPS?: boolean }

export interface AwsSdk {
  sm: typeof SecretsManagerSdk
  /** the SDK's default Node credential chain */
  defaultProvider: SourceFactory
  partition: PartitionOf | undefined
  sources: () => Promise<CredentialSources>
  /** one source, its module imported on first use */
  source: <K extends SourceName>(name: K) => Promise<CredentialSources[K]>
  signing: () => Promise<SigningSdk>
}

function once<T> (load: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined
  return async () => await (p ??= load())
}

/** Loads the main package and the chain; the rest loads on first use. */
export async function loadAwsSdk (): Promise<AwsSdk> {
  const [sm, chain, client] = await Promise.all([
    importSdk<typeof SecretsManagerSdk>('aws', MAIN_PACKAGE),
    importFromSdk<{ defaultProvider: SourceFactory }>('aws', MAIN_PACKAGE, CHAIN_PACKAGE),
    // the SDK's partition table (regions → DNS suffix): present in every @aws-sdk/core that has
    // the `./client` entry; endpoints.ts falls back to the partitions it knows when it is not
    importFromSdk<{ partition?: PartitionOf }>('aws', MAIN_PACKAGE, '@aws-sdk/core/client').catch(() => ({ partition: undefined }))
  ])
  const via = [MAIN_PACKAGE, CHAIN_PACKAGE]
  const modules: Record<SourceName, string> = {
    fromEnv: '@aws-sdk/credential-provider-env',
    fromIni: '@aws-sdk/credential-provider-ini',
    fromSSO: '@aws-sdk/credential-provider-sso',
    fromTokenFile: '@aws-sdk/credential-provider-web-identity',
    fromHttp: '@aws-sdk/credential-provider-http',
    fromContainerMetadata: '@smithy/credential-provider-imds',
    fromInstanceMetadata: '@smithy/credential-provider-imds'
  }
  const loaders = new Map<SourceName, () => Promise<SourceFactory>>()
  const source = async <K extends SourceName>(name: K): Promise<CredentialSources[K]> => {
    let load = loaders.get(name)
    if (load === undefined) {
      load = once(async () => (await importFromSdk<Record<string, SourceFactory>>('aws', via, modules[name]))[name])
      loaders.set(name, load)
    }
    return await load()
  }
  const sources = once(async (): Promise<CredentialSources> => {
    const names = Object.keys(modules) as SourceName[]
    const loaded = await Promise.all(names.map(async (name) => await source(name)))
    return Object.fromEntries(names.map((name, i) => [name, loaded[i]])) as unknown as CredentialSources
  })
  const signing = once(async (): Promise<SigningSdk> => {
    const [signer, handler] = await Promise.all([
      importFromSdk<Pick<SigningSdk, 'SignatureV4'>>('aws', [MAIN_PACKAGE, '@aws-sdk/core'], '@smithy/signature-v4'),
      importFromSdk<Pick<SigningSdk, 'NodeHttpHandler' | 'streamCollector'>>('aws', MAIN_PACKAGE, '@smithy/node-http-handler')
    ])
    return { SignatureV4: signer.SignatureV4, NodeHttpHandler: handler.NodeHttpHandler, streamCollector: handler.streamCollector }
  })
  return { sm, defaultProvider: chain.defaultProvider, partition: typeof client.partition === 'function' ? client.partition : undefined, sources, source, signing }
}

/** Loads every piece any path may need (for a process that wants the imports done before its clock starts). */
export async function warm (): Promise<void> {
  const sdk = await loadAwsSdk()
  await Promise.all([sdk.sources(), sdk.signing()])
}
