import type { TokenCredential } from '@azure/core-auth'

// The chain's vocabulary, shared by the chain, its credentials and the error classification:
// types only, so none of those files imports another to name them.

/** The credential sources of the chain, in DefaultAzureCredential's order. */
export type AzureSource = 'azure:environment' | 'azure:workload-identity' | 'azure:managed-identity' | 'azure:cli' | 'azure:developer-cli'

/** Which managed-identity endpoint answers here: each platform speaks its own protocol. */
export type ManagedIdentityKind = 'app-service' | 'imds' | 'msi-endpoint' | 'arc' | 'service-fabric' | 'cloud-shell'

/** One link of the chain: what it is, and either a credential or why it is not available here. */
export interface ChainLink {
  source: AzureSource
  /** the SDK credential class it stands for, e.g. ManagedIdentityCredential */
  credentialName: string
  /** what the pending-step label and the attempts list call it */
  describe: string
  /** set when the link is configured; undefined means "not available here" (see `skipReason`) */
  credential?: TokenCredential
  skipReason?: string
  /** managed identity: which endpoint kind answers (App Service, IMDS, …) */
  miKind?: ManagedIdentityKind
}
