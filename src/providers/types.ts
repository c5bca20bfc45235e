import type { CloudSecretsError, CredentialAttempt } from '../errors.js'
import type { Deadline } from '../deadline.js'
import type { NormalizedConfig } from '../options.js'
import type { SecretReference } from '../reference.js'
import type { Identity, Logger, ProviderName } from '../types.js'

/**
 * The one small interface every cloud implements (src/providers/<cloud>/index.ts exports
 * `createProvider`). The core drives it; it never sees an SDK.
 */
export interface Provider<Clients extends object = object> {
  readonly name: ProviderName
  /** find the credential, prove it yields a token, and say who we are */
  resolveIdentity: (ctx: StepContext) => Promise<Identity>
  /** every credential source the last resolveIdentity tried, with its outcome (for `doctor`) */
  attempts?: () => CredentialAttempt[]
  /**
   * the least-privilege grant that lets `identity` read `refs` (IAM policy JSON, gcloud or az
   * commands…), for the `policy` command and ACCESS_DENIED fixes; pure, no network
   */
  grant?: (refs: readonly SecretReference[], identity: Identity) => GrantDocument[]
  /** acquire a token for each extra scope/audience (CLOUD_SECRETS_CHECK_SCOPES) */
  checkScopes?: (scopes: readonly string[], ctx: StepContext) => Promise<void>
  /** fetch every reference; never throws for a single secret: each alias gets an outcome */
  loadSecrets: (refs: readonly SecretReference[], ctx: LoadContext) => Promise<Map<string, SecretOutcome>>
  /**
   * refresh only: which of `refs` may have changed since this provider last read them, found at
   * less cost than reading them all (e.g. one list of properties); the core re-reads those.
   * Without it every polled reference is re-read each cycle.
   */
  changedSecrets?: (refs: readonly SecretReference[], ctx: LoadContext) => Promise<ChangedSecrets>
  /** refresh only: what one refresh cycle of `refs` costs per store, and the store's documented quota */
  refreshCost?: (refs: readonly SecretReference[]) => StoreCost[]
  /** the object placed on app.cloud.<name> (credential, store client, client factory) */
  clients: () => Clients
  /** destroy everything this provider created, including requests still in flight */
  close: () => Promise<void>
}

export interface ProviderInit {
  config: NormalizedConfig
  log: Logger
  /** internal: identity fields forced by the testing export */
  identityOverride?: Partial<Identity>
}

export type CreateProvider = (init: ProviderInit) => Promise<Provider>

export interface StepContext {
  readonly deadline: Deadline
  readonly log: Logger
  /**
   * Runs one network step as pending step `label`, with bounded, jittered retries for errors
   * `classify` marks retryable, all inside the startup deadline. `signal` aborts at the deadline.
   */
  retry: <T>(label: string, attempt: (signal: AbortSignal, n: number) => Promise<T>, classify: (err: unknown) => CloudSecretsError) => Promise<T>
}

export interface LoadContext extends StepContext {
  readonly identity: Identity
  /** bounded concurrency shared by all of this provider's calls */
  limit: <T>(task: () => Promise<T>) => Promise<T>
}

export type SecretOutcome =
  | { ok: true, value: string, version?: string, store: string, ms: number }
  | { ok: false, error: CloudSecretsError }

/** One piece of a least-privilege grant, ready to paste. */
export interface GrantDocument {
  /** what it is, e.g. "IAM policy for arn:aws:sts::…:assumed-role/app/…" */
  title: string
  /** json (IAM policy), sh (CLI commands), bicep */
  format: 'json' | 'sh' | 'bicep'
  text: string
}

export interface ChangedSecrets {
  /** to re-read: changed, new to this provider, or not seen in the listing */
  changed: SecretReference[]
  /** the change check itself failed for these aliases (they keep their last good value) */
  failed: Map<string, CloudSecretsError>
}

/** The requests one refresh cycle sends to one store, against that store's documented quota. */
export interface StoreCost {
  /** e.g. "Secrets Manager us-east-1", "Key Vault myvault.vault.azure.net" */
  store: string
  /** requests per cycle per instance, and what they are */
  requests: number
  calls: string
  /** the quota these requests count against */
  quota: { requests: number, perSeconds: number, scope: string, name: string, source: string }
}
