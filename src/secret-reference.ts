import type { ProviderName } from './provider-name.js'

/** One configured secret, resolved to its provider. Holds no value. */
export interface SecretReference {
  readonly alias: string
  readonly provider: ProviderName
  /** the id as the store knows it: a name, or the store's native id (its descriptor's grammar) */
  readonly id: string
  readonly version?: string
  readonly stage?: string
  readonly optional: boolean
  /** `?refresh=off`: loaded once, never re-read by the background refresh */
  readonly refresh?: 'off'
  /** dot path into a JSON-valued secret */
  readonly key?: readonly string[]
  /** the reference as written (safe to log: it names, it does not hold, the secret) */
  readonly raw: string
}
