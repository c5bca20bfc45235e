import type { SecretReference } from '../secret-reference.js'
import type { Env } from '../shared/env.js'
import type { ProviderName } from '../provider-name.js'

/**
 * How a store describes itself to the core, from an SDK-free module
 * (src/providers/<name>/descriptor.ts): its options and env vars, its platform markers, its
 * native-id grammar and its packages. The core reads only this, so it names no cloud; the store's
 * code (and SDK) is loaded from src/providers/registry.ts only when a config needs it.
 */
export interface ProviderDescriptor<Name extends ProviderName = ProviderName, Settings extends object = object> {
  readonly name: Name
  /** the key of its options section (`options.<section>`) */
  readonly section: string
  /** the env vars it reads; in options.env each must be a string when set */
  readonly envVars: readonly string[]
  /** env vars that show the process runs on this store's platform (provider `auto`) */
  readonly platformMarkers: readonly string[]
  /**
   * provider `auto` with no platform marker picks this store when this returns why (e.g. "local
   * values are configured"); `section` is its options section ({} when absent)
   */
  readonly chosenWithoutPlatform?: (section: Readonly<Record<string, unknown>>, env: Env) => string | undefined
  /** validates its options section and env vars into its settings; every problem goes to `add` */
  readonly readSettings: (input: SettingsInput) => Settings
  /** the ids this store knows */
  readonly ids: IdGrammar
  /** stage= (a version label): what it is and an example, when this store takes it */
  readonly stage?: { readonly what: string, readonly example: string }
  /** checks.scopes: this store acquires extra token scopes at boot */
  readonly scopes: boolean
  /** the SDK packages an app using this store installs */
  readonly packages: readonly string[]
  /** the command that logs a developer in locally (for the NO_CREDENTIALS fix) */
  readonly login?: string
}

export interface SettingsInput {
  /** its options section, already checked to be an object ({} when absent) */
  readonly section: Readonly<Record<string, unknown>>
  readonly env: Env
  /** the references resolved to this store */
  readonly references: readonly SecretReference[]
  /** adds a problem (source: an option path or env var name) to the one list of this config */
  readonly add: (source: string, message: string) => void
  /** options.<section>.<key> when it is a string, else undefined (a wrong type is a problem) */
  readonly text: (key: string) => string | undefined
}

export interface IdGrammar {
  /** ids that imply this store without a scheme (e.g. `arn:`), matched after the parameters are cut */
  readonly nativePrefixes?: readonly string[]
  /** URL schemes whose whole reference is a native id of this store (e.g. https for a secret URL) */
  readonly nativeSchemes?: readonly string[]
  /** URL schemes refused with a hint (e.g. http: "secret URLs must use https://") */
  readonly refusedSchemes?: Readonly<Record<string, string>>
  /**
   * checks an id (and version) against the store's grammar; returns them as the store knows them
   * (a version pinned inside a native id is moved to `version`); each problem goes to `problem`
   */
  readonly resolve: (ref: { id: string, version?: string }, problem: (message: string) => void) => { id: string, version?: string }
}
