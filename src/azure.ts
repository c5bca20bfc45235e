import type { AzureClients } from './providers/azure/public.js'

/**
 * `fastify-cloud-secrets/azure`: the types of `app.cloud.azure` / `request.cloud.azure`. Import it
 * once for its types (`import type {} from 'fastify-cloud-secrets/azure'`); it names only
 * @azure/identity and @azure/keyvault-secrets, the two packages an Azure app installs.
 */
export type { AzureClients } from './providers/azure/public.js'

declare module './types.js' {
  interface CloudProviders {
    azure: AzureClients
  }
}
