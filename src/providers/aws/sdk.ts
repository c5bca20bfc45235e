import type * as SecretsManagerSdk from '@aws-sdk/client-secrets-manager'
import { importFromSdk, requireFromSdk, requireInstalled, requireSdk } from '../../shared/sdk.js'
import type { AwsCredentialsProvider } from './clients.js'
import { partitionKnown, type PartitionOf } from './endpoints.js'

/**
 * Everything the AWS provider takes from the SDK, reached from the one package the user installs,
 * `@aws-sdk/client-secrets-manager`, through its own dependency tree: the credential sources of the
 * default chain (`@aws-sdk/credential-provider-node`'s, a direct dependency), the partition table
 * (`@aws-sdk/core/client`) and the client the app gets. Each piece is loaded only when the path
 * that needs it runs: the startup's own calls (wire.ts) and the environment / container
 * credentials (env-chain.ts, early-container.ts) need none.
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

export type { PartitionOf } from './endpoints.js'

export interface AwsSdk {
  /** the Secrets Manager client package, loaded (CommonJS) when the app builds its client */
  sm: () => typeof SecretsManagerSdk
  /**
   * the SDK's partition of a region whose partition endpoints.ts does not know by its shape (a
   * partition newer than the plugin): the table is loaded then, not for the regions of the known ones
   */
  partition: (region: string) => ReturnType<PartitionOf> | undefined
  sources: () => Promise<CredentialSources>
  /** one source, its module imported on first use */
  source: <K extends SourceName>(name: K) => Promise<CredentialSources[K]>
}

function once<T> (load: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined
  return async () => await (p ??= load())
}

/** Checks the main package is installed (SDK_MISSING otherwise); loads nothing. */
export function loadAwsSdk (): AwsSdk {
  requireInstalled('aws', [MAIN_PACKAGE])
  let sm: typeof SecretsManagerSdk | undefined
  let table: PartitionOf | null | undefined
  const sdkPartition = (): PartitionOf | null => {
    if (table !== undefined) return table
    try {
      const client = requireFromSdk<{ partition?: PartitionOf }>('aws', MAIN_PACKAGE, '@aws-sdk/core/client')
      table = typeof client.partition === 'function' ? client.partition : null
    } catch {
      // an @aws-sdk/core without the `./client` entry: endpoints.ts falls back to the partitions it knows
      table = null
    }
    return table
  }
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
  return {
    sm: () => (sm ??= requireSdk<typeof SecretsManagerSdk>('aws', MAIN_PACKAGE)),
    partition: (region) => partitionKnown(region) ? undefined : sdkPartition()?.(region),
    sources,
    source
  }
}

/** Loads every piece any path may need (for a process that wants the imports done before its clock starts). */
export async function warm (): Promise<void> {
  const sdk = loadAwsSdk()
  sdk.sm()
  sdk.partition('xx-unknown-1')
  await sdk.sources()
}
