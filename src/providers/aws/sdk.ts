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

/** The single sources of the default chain, used to explain a failure of the chain. */
export interface CredentialSources {
  fromEnv: SourceFactory
  fromIni: SourceFactory
  fromTokenFile: SourceFactory
  fromHttp: SourceFactory
  fromInstanceMetadata: SourceFactory
}

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
  const sources = once(async (): Promise<CredentialSources> => {
    const [env, ini, web, http, imds] = await Promise.all([
      importFromSdk<Pick<CredentialSources, 'fromEnv'>>('aws', via, '@aws-sdk/credential-provider-env'),
      importFromSdk<Pick<CredentialSources, 'fromIni'>>('aws', via, '@aws-sdk/credential-provider-ini'),
      importFromSdk<Pick<CredentialSources, 'fromTokenFile'>>('aws', via, '@aws-sdk/credential-provider-web-identity'),
      importFromSdk<Pick<CredentialSources, 'fromHttp'>>('aws', via, '@aws-sdk/credential-provider-http'),
      importFromSdk<Pick<CredentialSources, 'fromInstanceMetadata'>>('aws', via, '@smithy/credential-provider-imds')
    ])
    return { fromEnv: env.fromEnv, fromIni: ini.fromIni, fromTokenFile: web.fromTokenFile, fromHttp: http.fromHttp, fromInstanceMetadata: imds.fromInstanceMetadata }
  })
  const signing = once(async (): Promise<SigningSdk> => {
    const [signer, handler] = await Promise.all([
      importFromSdk<Pick<SigningSdk, 'SignatureV4'>>('aws', [MAIN_PACKAGE, '@aws-sdk/core'], '@smithy/signature-v4'),
      importFromSdk<Pick<SigningSdk, 'NodeHttpHandler' | 'streamCollector'>>('aws', MAIN_PACKAGE, '@smithy/node-http-handler')
    ])
    return { SignatureV4: signer.SignatureV4, NodeHttpHandler: handler.NodeHttpHandler, streamCollector: handler.streamCollector }
  })
  return { sm, defaultProvider: chain.defaultProvider, partition: typeof client.partition === 'function' ? client.partition : undefined, sources, signing }
}

/** Loads every piece any path may need (for a process that wants the imports done before its clock starts). */
export async function warm (): Promise<void> {
  const sdk = await loadAwsSdk()
  await Promise.all([sdk.sources(), sdk.signing()])
}
