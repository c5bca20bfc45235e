import type { GcpClients } from './providers/gcp/public.js'

/**
 * `fastify-cloud-secrets/gcp`: the types of `app.cloud.gcp` / `request.cloud.gcp`. Import it once
 * for its types (`import type {} from 'fastify-cloud-secrets/gcp'`); it names only
 * @google-cloud/secret-manager, the one package a GCP app installs.
 */
export type { GcpClients, GoogleAuth, GoogleClientConstructor } from './providers/gcp/public.js'

declare module './types.js' {
  interface CloudProviders {
    gcp: GcpClients
  }
}
