import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/identity'
import type { SecretClient } from '@azure/keyvault-secrets'
import type { Identity } from '../../types.js'

// The types of `app.cloud.azure`, published through `fastify-cloud-secrets/azure`: they name only
// the two packages an Azure user installs (@azure/identity re-exports the core-auth types).

/** What `app.cloud.azure` and `request.cloud.azure` hold. */
export interface AzureClients {
  /** the credential that answered at boot (a TokenCredential for any Azure SDK client) */
  readonly credential: TokenCredential
  /** the Key Vault client of `vaultUrl` (default: AZURE_KEYVAULT_URL), one per vault */
  secretClient: (vaultUrl?: string) => SecretClient
  /** an access token for `scope` (e.g. https://database.windows.net/.default) from the same credential */
  getToken: (scope: string | string[], options?: GetTokenOptions) => Promise<AccessToken>
  /**
   * Builds any Azure SDK client with the same credential, memoised per constructor and arguments.
   * The credential is inserted after the leading string arguments (endpoint, entity names), so
   * `client(BlobServiceClient, url)` is `new BlobServiceClient(url, credential)`. Pass the
   * credential yourself where it goes elsewhere: `client(ResourceManagementClient, credential, subId)`.
   */
  client: <C extends abstract new (...args: any[]) => any>(Ctor: C, ...args: any[]) => InstanceType<C>
  /** the identity report of this provider */
  readonly identity: Identity
}
