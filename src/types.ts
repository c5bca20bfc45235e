import type { FastifyBaseLogger } from 'fastify'
import type { ProviderOptions } from './providers/registry.js'
import type { CloudRefresh } from './refresh/events.js'

import type { ProviderName, ProviderSetting } from './provider-name.js'
export type { ProviderName, ProviderSetting } from './provider-name.js'

/** Who the process runs as. Never carries a token or a secret value. */
export interface Identity {
  provider: ProviderName
  /** where the process runs: lambda, ecs, eks, ec2, cloud-run, gke, app-service, aks, vm, local, … */
  platform: string
  /** which credential source answered, e.g. aws:container, gcp:metadata, azure:cli, local */
  source: string
  /** STS caller ARN, service-account email, Entra object id (or undefined when it cannot be known) */
  principal?: string
  account?: string
  project?: string
  tenant?: string
  region?: string
  /** ISO-8601 expiry of the credential, when known */
  expiresAt?: string
  /** provider-specific facts (app id, managed identity kind, …) */
  details?: Record<string, string | boolean | number | undefined>
}

/**
 * Extend this interface to type `app.secrets`:
 *
 * ```ts
 * declare module 'fastify-cloud-secrets' {
 *   interface CloudSecrets { jwtKey: string; sentryDsn: string | undefined }
 * }
 * ```
 */
export interface CloudSecrets {}

export type SecretsRecord = keyof CloudSecrets extends never
  ? Readonly<Record<string, string | undefined>>
  : Readonly<CloudSecrets>

/**
 * Per-cloud handles placed on `app.cloud.<provider>` by each provider. Providers augment this
 * interface from their own folder, so the core never names an SDK type.
 */
export interface CloudProviders {}

export interface CloudContext extends Partial<CloudProviders> {
  /** identity of the app's provider (the first provider when only explicit schemes are used) */
  readonly identity: Identity
  /** identity of every provider used by this app */
  readonly identities: Readonly<Partial<Record<ProviderName, Identity>>>
  /** background refresh: events, now(), status(), previous(); present only when refresh is on */
  readonly refresh?: CloudRefresh
}

export interface RefreshOptions {
  /** ms between refresh cycles (or a duration string: `30s`, `15m`, `1h`); at least 1000 */
  intervalMs: number | string
  /** each interval is intervalMs × (1 ± jitter); 0 to 0.5, default 0.1 */
  jitter?: number
  /** a secret not refreshed for this long is stale (event + status); default 3 × intervalMs */
  staleAfterMs?: number | string
}

export type CustomCheck = (cloud: CloudContext) => Promise<void> | void

/** The plugin's options; each store's section (`aws`, `azure`, `gcp`, `local`) comes from its descriptor. */
export interface CloudSecretsOptions extends ProviderOptions {
  /** `aws`, `gcp`, `azure`, `local` or `auto` (env CLOUD_SECRETS_PROVIDER) */
  provider?: ProviderSetting
  /** alias → reference (env CLOUD_SECRETS: `alias=reference` pairs, comma or newline separated) */
  secrets?: Record<string, string>
  /** deadline for the whole startup, ms (env CLOUD_SECRETS_TIMEOUT_MS); defaults to fit inside pluginTimeout */
  timeoutMs?: number
  checks?: {
    /** extra token scopes/audiences to acquire at boot (env CLOUD_SECRETS_CHECK_SCOPES) */
    scopes?: string[]
    /** functions run at boot with the authenticated clients; a record names each check */
    custom?: CustomCheck[] | Record<string, CustomCheck>
  }
  /**
   * opt-in background refresh (env CLOUD_SECRETS_REFRESH_MS: `900000`, `30s`, `15m`, `1h`):
   * an interval in ms (or a duration string), or `{ intervalMs, jitter = 0.1, staleAfterMs = 3 × intervalMs }`.
   * Off by default: secrets are loaded once.
   */
  refresh?: number | string | false | RefreshOptions
  /**
   * aborts a startup in progress with FST_CLOUD_SECRETS_ABORTED and closes what it opened, e.g.
   * `process.once('SIGTERM', () => ac.abort())` (Fastify's close() waits for the whole boot)
   */
  signal?: AbortSignal
  /** where env vars are read from; defaults to process.env */
  env?: Record<string, string | undefined>
}

export type Logger = FastifyBaseLogger
