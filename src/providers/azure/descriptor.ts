import { nonEmpty } from '../../shared/env.js'
import type { ProviderDescriptor } from '../descriptor.js'

/** options.azure */
export interface AzureOptions {
  /** the default vault, https://VAULT-NAME.vault.azure.net (env AZURE_KEYVAULT_URL); needed by short secret names */
  vaultUrl?: string
}

export interface AzureSettings {
  /** the vault origin, lower case */
  readonly vaultUrl?: string
}

const NAME = /^[0-9A-Za-z-]{1,127}$/
const VERSION = /^[0-9A-Za-z]{1,64}$/

/** The vault URL of the option or AZURE_KEYVAULT_URL, checked and normalized to its origin. */
function readVaultUrl (option: string | undefined, env: Readonly<Record<string, string | undefined>>, add: (source: string, message: string) => void): { given?: string, normalized?: string } {
  const given = option ?? (nonEmpty(env.AZURE_KEYVAULT_URL) ? env.AZURE_KEYVAULT_URL.trim() : undefined)
  if (given === undefined) return {}
  const source = option !== undefined ? 'options.azure.vaultUrl' : 'AZURE_KEYVAULT_URL'
  let url: URL | undefined
  try { url = new URL(given) } catch { add(source, 'not a URL; expected https://VAULT-NAME.vault.azure.net') }
  if (url === undefined) return { given }
  if (url.protocol !== 'https:') add(source, 'Key Vault needs https://')
  else if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.username !== '' || url.password !== '') add(source, 'give the vault URL only (https://VAULT-NAME.vault.azure.net), no path or query')
  else return { given, normalized: `https://${url.host.toLowerCase()}` }
  return { given }
}

/** Checks a Key Vault secret URL, https://VAULT-HOST/secrets/NAME[/VERSION]; the id becomes the URL without its version. */
function resolveSecretUrl (id: string, version: string | undefined, problem: (message: string) => void): { id: string, version?: string } {
  let url: URL | undefined
  try { url = new URL(id) } catch { problem('not a valid Key Vault secret URL') }
  if (url === undefined) return { id, version }
  const parts = url.pathname.split('/').filter((p) => p.length > 0)
  if (url.hostname.length === 0 || url.port !== '' || url.search !== '' || url.username !== '' || url.password !== '') {
    problem('a Key Vault secret URL is https://VAULT-HOST/secrets/NAME[/VERSION] with no port, query or credentials')
    return { id, version }
  }
  if (parts.length < 2 || parts.length > 3 || parts[0] !== 'secrets' || !NAME.test(parts[1])) {
    problem('a Key Vault secret URL is https://VAULT-HOST/secrets/NAME[/VERSION]; NAME has 1–127 letters, digits and -')
    return { id, version }
  }
  if (parts[2] !== undefined) {
    if (version !== undefined && version !== parts[2]) problem(`the URL pins version ${parts[2]} and version=${version} disagrees`)
    version = parts[2]
  }
  return { id: `https://${url.hostname.toLowerCase()}/secrets/${parts[1]}`, version }
}

/** Azure Key Vault, described to the core (no SDK here). */
export const azureDescriptor: ProviderDescriptor<'azure', AzureSettings> = {
  name: 'azure',
  section: 'azure',
  envVars: ['AZURE_KEYVAULT_URL'],
  platformMarkers: ['IDENTITY_ENDPOINT', 'MSI_ENDPOINT', 'AZURE_FEDERATED_TOKEN_FILE', 'CONTAINER_APP_NAME', 'WEBSITE_SITE_NAME'],
  readSettings ({ env, references, add, text }) {
    const vault = readVaultUrl(text('vaultUrl'), env, add)
    if (vault.given === undefined && references.some((r) => !r.id.startsWith('https://'))) {
      add('AZURE_KEYVAULT_URL', 'short Key Vault secret names need the default vault: set AZURE_KEYVAULT_URL=https://VAULT-NAME.vault.azure.net or use full secret URLs')
    }
    return { vaultUrl: vault.normalized }
  },
  ids: {
    nativeSchemes: ['https'],
    refusedSchemes: { http: 'Key Vault secret URLs must use https://' },
    resolve ({ id, version }, problem) {
      if (id.startsWith('https://') || id.startsWith('HTTPS://')) ({ id, version } = resolveSecretUrl(id, version, problem))
      else if (!NAME.test(id)) problem('a Key Vault secret name has 1–127 characters: letters, digits and -')
      if (version !== undefined && !VERSION.test(version)) problem(`version "${version}" is not a Key Vault version id`)
      return { id, version }
    }
  },
  scopes: true,
  packages: ['@azure/identity', '@azure/keyvault-secrets'],
  login: 'az login'
}
