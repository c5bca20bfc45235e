import type { ProviderName } from '../types.js'
import type { CreateProvider } from './types.js'

/** Each cloud is loaded only when configured, so one cloud never loads another's SDK. */
export const PROVIDER_MODULES: Readonly<Record<ProviderName, () => Promise<{ createProvider: CreateProvider }>>> = {
  local: async () => await import('./local/index.js'),
  aws: async () => await import('./aws/index.js'),
  azure: async () => await import('./azure/index.js'),
  gcp: async () => await import('./gcp/index.js')
}
