import type { ProviderName } from '../provider-name.js'
import { awsDescriptor, type AwsOptions } from './aws/descriptor.js'
import { azureDescriptor, type AzureOptions } from './azure/descriptor.js'
import type { ProviderDescriptor } from './descriptor.js'
import { gcpDescriptor, type GcpOptions } from './gcp/descriptor.js'
import { localDescriptor, type LocalOptions } from './local/descriptor.js'

/**
 * Every store the plugin knows: its SDK-free descriptor, and the loader of its code (imported only
 * when a config uses it, so one store never loads another's SDK). A new store is a folder with
 * descriptor.ts and index.ts, plus one line here (and its name in ProviderName, its options below).
 * Listed in the order users see the stores named (messages, `auto` detection).
 */
export const REGISTRY = {
  aws: entry(awsDescriptor, async () => await import('./aws/index.js')),
  gcp: entry(gcpDescriptor, async () => await import('./gcp/index.js')),
  azure: entry(azureDescriptor, async () => await import('./azure/index.js')),
  local: entry(localDescriptor, async () => await import('./local/index.js'))
} as const satisfies { readonly [K in ProviderName]: RegistryEntry<K, object> }

/**
 * A store's code as the registry sees it: something with a createProvider. Typed without
 * src/providers/types.ts (which reads the config this registry describes, so importing it back
 * would be a cycle); startup.ts, which knows both, gives it the CreateProvider type.
 */
export interface ProviderModule {
  readonly createProvider: (init: never) => Promise<unknown>
}

/** A store: its descriptor, and the loader of its code (typed without the code's, so no SDK type leaks into the public types). */
export interface RegistryEntry<Name extends ProviderName, Settings extends object> {
  readonly descriptor: ProviderDescriptor<Name, Settings>
  readonly load: () => Promise<ProviderModule>
}

function entry<Name extends ProviderName, Settings extends object> (descriptor: ProviderDescriptor<Name, Settings>, load: () => Promise<ProviderModule>): RegistryEntry<Name, Settings> {
  return { descriptor, load }
}

/** each store's options section, as the app writes it (composes CloudSecretsOptions) */
export interface ProviderOptions {
  aws?: AwsOptions
  azure?: AzureOptions
  gcp?: GcpOptions
  local?: LocalOptions
}

/** each store's validated settings, keyed by its name (NormalizedConfig carries them) */
export type ProviderSettings = { readonly [K in ProviderName]: ReturnType<typeof REGISTRY[K]['descriptor']['readSettings']> }

export const DESCRIPTORS: readonly ProviderDescriptor[] = Object.values(REGISTRY).map((entry) => entry.descriptor)

export const PROVIDER_NAMES: readonly ProviderName[] = DESCRIPTORS.map((d) => d.name)

/**
 * The stores in the order of their options sections (aws, azure, gcp, local, as in
 * CloudSecretsOptions): the list of known options, and the order their settings are checked in
 * (and so their problems listed, which the config tests pin). A store not named here comes last.
 */
const OPTIONS_ORDER: readonly string[] = ['aws', 'azure', 'gcp', 'local']
export const DESCRIPTORS_IN_OPTIONS_ORDER: readonly ProviderDescriptor[] = [...DESCRIPTORS].sort((a, b) => rank(a.name) - rank(b.name))

function rank (name: string): number {
  const i = OPTIONS_ORDER.indexOf(name)
  return i === -1 ? OPTIONS_ORDER.length : i
}

export function descriptorOf (name: ProviderName): ProviderDescriptor {
  return REGISTRY[name].descriptor
}

/** Imports one store's code (and so its SDK). */
export async function loadProvider (name: ProviderName): Promise<ProviderModule> {
  return await REGISTRY[name].load()
}
