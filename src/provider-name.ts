/**
 * The stores, by name. A union (not derived from src/providers/registry.ts) so the public types
 * read plainly; the registry is checked to list exactly these.
 */
export type ProviderName = 'aws' | 'gcp' | 'azure' | 'local'
export type ProviderSetting = ProviderName | 'auto'
