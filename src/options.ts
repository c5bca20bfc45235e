import { configError, type ConfigProblem } from './errors.js'
import { aliasProblem, parseReference, resolveReference, splitSecretsEnv, type ParsedReference, type SecretReference } from './reference.js'
import { readRefresh, type RefreshConfig } from './refresh/interval.js'
import { firstSet, nonEmpty, type Env } from './shared/env.js'
import { PROVIDER_NAMES, type CloudSecretsOptions, type CustomCheck, type ProviderName } from './types.js'

export type { Env }

/** The frozen internal config: options and env vars, validated once. */
export interface NormalizedConfig {
  /** the app's provider; undefined only when `auto` found nothing and every reference names its scheme */
  readonly provider?: ProviderName
  /** how the provider was chosen: `option`, `env CLOUD_SECRETS_PROVIDER`, or the platform marker seen */
  readonly providerChosenBy: string
  /** every provider this startup needs, the app's first */
  readonly providers: readonly ProviderName[]
  readonly references: readonly SecretReference[]
  readonly timeoutMs: number
  readonly aws: { readonly region?: string }
  readonly azure: { readonly vaultUrl?: string }
  readonly gcp: { readonly projectId?: string }
  readonly local: { readonly file?: string, readonly values?: Readonly<Record<string, string>> }
  readonly checks: { readonly scopes: readonly string[], readonly custom: ReadonlyArray<{ name: string, fn: CustomCheck }> }
  /** background refresh; undefined: secrets are loaded once */
  readonly refresh?: RefreshConfig
  readonly env: Env
}

/** Env vars that show which cloud the process runs on (provider `auto`). */
export const PLATFORM_MARKERS: Readonly<Record<Exclude<ProviderName, 'local'>, readonly string[]>> = {
  aws: ['AWS_LAMBDA_FUNCTION_NAME', 'ECS_CONTAINER_METADATA_URI_V4', 'ECS_CONTAINER_METADATA_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_WEB_IDENTITY_TOKEN_FILE'],
  gcp: ['K_SERVICE', 'CLOUD_RUN_JOB', 'FUNCTION_TARGET', 'GAE_SERVICE'],
  azure: ['IDENTITY_ENDPOINT', 'MSI_ENDPOINT', 'AZURE_FEDERATED_TOKEN_FILE', 'CONTAINER_APP_NAME', 'WEBSITE_SITE_NAME']
}

export function detectProviders (env: Env): Array<{ provider: ProviderName, marker: string }> {
  const found: Array<{ provider: ProviderName, marker: string }> = []
  for (const [provider, markers] of Object.entries(PLATFORM_MARKERS) as Array<[ProviderName, readonly string[]]>) {
    const marker = markers.find((name) => nonEmpty(env[name]))
    if (marker !== undefined) found.push({ provider, marker })
  }
  return found
}

/** env vars the core reads; in options.env each must be a string when set */
const ENV_NAMES = ['CLOUD_SECRETS_PROVIDER', 'CLOUD_SECRETS', 'CLOUD_SECRETS_TIMEOUT_MS', 'CLOUD_SECRETS_REFRESH_MS', 'AWS_REGION', 'AWS_DEFAULT_REGION',
  'AZURE_KEYVAULT_URL', 'GOOGLE_CLOUD_PROJECT', 'GCLOUD_PROJECT', 'GCP_PROJECT', 'CLOUD_SECRETS_LOCAL_FILE', 'CLOUD_SECRETS_CHECK_SCOPES',
  ...Object.values(PLATFORM_MARKERS).flat()]

const KNOWN_OPTIONS = new Set(['provider', 'secrets', 'timeoutMs', 'aws', 'azure', 'gcp', 'local', 'checks', 'refresh', 'env', 'signal'])
const MAX_TIMEOUT_MS = 15 * 60 * 1000
const MAX_SECRETS = 1000
/** used when Fastify's pluginTimeout is disabled (0) */
const DEFAULT_TIMEOUT_MS = 10_000

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** an object literal (or JSON.parse result): a Map or class instance would silently yield no keys */
function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (!isRecord(value)) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === null || proto === Object.prototype
}

/** Default deadline: leave Fastify's own plugin timer room to never fire first. */
export function defaultTimeoutMs (pluginTimeout: number): number {
  if (!(pluginTimeout > 0)) return DEFAULT_TIMEOUT_MS
  return Math.max(1, pluginTimeout - Math.min(1000, Math.ceil(pluginTimeout * 0.2)))
}

export function normalizeOptions (options: CloudSecretsOptions, fastify: { pluginTimeout: number }): NormalizedConfig {
  const problems: ConfigProblem[] = []
  const add = (source: string, message: string, extra: Partial<ConfigProblem> = {}): void => { problems.push({ source, message, ...extra }) }

  const raw: unknown = options
  if (!isRecord(raw)) {
    throw configError([{ source: 'options', message: 'plugin options must be an object' }])
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) add(`options.${clip(key)}`, `unknown option; known options: ${[...KNOWN_OPTIONS].join(', ')}`)
  }
  // plain JavaScript callers can pass anything: a wrong type is a listed problem, never a TypeError
  // (and never a number where a path is expected: fs would read that file descriptor)
  const envInput: unknown = options.env
  let env: Env = process.env
  if (envInput !== undefined) {
    if (isRecord(envInput)) env = envInput as Env
    else { add('options.env', 'must be an object of env var name → string'); env = {} }
  }
  const signal: unknown = options.signal
  if (signal !== undefined && !(signal instanceof AbortSignal)) add('options.signal', 'must be an AbortSignal (e.g. new AbortController().signal)')
  for (const name of ENV_NAMES) {
    if (env[name] !== undefined && typeof env[name] !== 'string') add(`options.env.${name}`, 'must be a string')
  }
  const section = (name: 'aws' | 'azure' | 'gcp' | 'local' | 'checks'): Record<string, unknown> => {
    const value: unknown = options[name]
    if (value === undefined) return {}
    if (!isRecord(value)) { add(`options.${name}`, 'must be an object'); return {} }
    return value
  }
  const text = (name: string, value: unknown): string | undefined => {
    if (value === undefined || typeof value === 'string') return value
    add(`options.${name}`, 'must be a string')
    return undefined
  }
  const localOptions = section('local')
  const checksOptions = section('checks')
  const regionOption = text('aws.region', section('aws').region)
  const vaultUrlOption = text('azure.vaultUrl', section('azure').vaultUrl)
  const projectIdOption = text('gcp.projectId', section('gcp').projectId)
  const localFileOption = text('local.file', localOptions.file)

  // numbers
  const timeoutMs = readNumber('timeoutMs', options.timeoutMs, 'CLOUD_SECRETS_TIMEOUT_MS', env, add, { min: 1, max: MAX_TIMEOUT_MS })
  const refresh = readRefresh(options.refresh, typeof env.CLOUD_SECRETS_REFRESH_MS === 'string' ? env.CLOUD_SECRETS_REFRESH_MS : undefined, (p) => problems.push(p))
  const pluginTimeout = fastify.pluginTimeout
  if (timeoutMs !== undefined && pluginTimeout > 0 && timeoutMs >= pluginTimeout) {
    add(options.timeoutMs !== undefined ? 'options.timeoutMs' : 'CLOUD_SECRETS_TIMEOUT_MS',
      `the startup deadline (${timeoutMs} ms) must be below Fastify's pluginTimeout (${pluginTimeout} ms), or Fastify's generic FST_ERR_PLUGIN_TIMEOUT fires first; raise Fastify({ pluginTimeout }) or lower the deadline`)
  }

  // provider
  let providerSetting: string | undefined
  let providerSource = 'options.provider'
  if (options.provider !== undefined) {
    providerSetting = options.provider
  } else if (nonEmpty(env.CLOUD_SECRETS_PROVIDER)) {
    providerSetting = env.CLOUD_SECRETS_PROVIDER.trim().toLowerCase()
    providerSource = 'CLOUD_SECRETS_PROVIDER'
  }
  let provider: ProviderName | undefined
  let providerChosenBy = providerSource
  let providerUnresolved: string | undefined
  if (providerSetting === undefined || providerSetting === 'auto') {
    const detected = detectProviders(env)
    if (detected.length === 1) {
      provider = detected[0].provider
      providerChosenBy = `auto (${detected[0].marker} is set)`
    } else if (detected.length > 1) {
      providerUnresolved = `provider auto found markers of several clouds (${detected.map((d) => `${d.marker} → ${d.provider}`).join(', ')}); set CLOUD_SECRETS_PROVIDER to one of aws, gcp, azure, local`
    } else if (localOptions.values !== undefined || nonEmpty(localFileOption) || nonEmpty(env.CLOUD_SECRETS_LOCAL_FILE)) {
      provider = 'local'
      providerChosenBy = 'auto (local values are configured)'
    } else {
      providerUnresolved = 'provider auto detected no cloud platform; set CLOUD_SECRETS_PROVIDER to one of aws, gcp, azure, local (on a laptop, the cloud whose CLI you are logged in to)'
    }
  } else if ((PROVIDER_NAMES as readonly string[]).includes(providerSetting)) {
    provider = providerSetting as ProviderName
  } else {
    add(providerSource, `${shown(providerSetting)} is not a provider; choose one of aws, gcp, azure, local, auto`)
  }

  // secrets
  const parsed: Array<{ alias: string, ref: ParsedReference, source: string }> = []
  const seen = new Set<string>()
  const take = (alias: string, reference: unknown, source: string, aliasPosition: number | undefined, referenceOffset: number): void => {
    const bad = aliasProblem(alias, source, aliasPosition)
    if (bad !== undefined) { problems.push(bad); return }
    if (seen.has(alias)) { add(source, 'the alias is defined twice', { alias, position: aliasPosition }); return }
    seen.add(alias)
    if (typeof reference !== 'string') { add(source, 'the reference must be a string', { alias }); return }
    const result = parseReference(alias, reference, source, referenceOffset)
    problems.push(...result.problems)
    if (result.ref !== undefined) parsed.push({ alias, ref: result.ref, source })
  }
  const secretsInput: unknown = options.secrets
  if (secretsInput !== undefined) {
    if (!isPlainObject(secretsInput)) {
      add('options.secrets', 'must be an object mapping alias → reference')
    } else {
      for (const alias of Object.keys(secretsInput)) take(alias, secretsInput[alias], `options.secrets.${clip(alias)}`, undefined, 0)
    }
  } else if (typeof env.CLOUD_SECRETS === 'string') {
    const split = splitSecretsEnv(env.CLOUD_SECRETS)
    problems.push(...split.problems)
    for (const entry of split.entries) take(entry.alias, entry.reference, 'CLOUD_SECRETS', entry.aliasPosition, entry.referenceOffset)
  }
  if (seen.size > MAX_SECRETS) add(secretsInput !== undefined ? 'options.secrets' : 'CLOUD_SECRETS', `at most ${MAX_SECRETS} secrets can be configured (${seen.size} given)`)

  const references: SecretReference[] = []
  const needsAppProvider = parsed.filter((p) => p.ref.provider === undefined)
  if (providerUnresolved !== undefined && (needsAppProvider.length > 0 || parsed.length === 0)) {
    add(providerSource === 'options.provider' && options.provider !== undefined ? 'options.provider' : 'CLOUD_SECRETS_PROVIDER', providerUnresolved)
  }
  for (const p of parsed) {
    const target = p.ref.provider ?? provider
    if (target === undefined) continue
    const result = resolveReference(p.alias, p.ref, target, p.source)
    problems.push(...result.problems)
    if (result.ref !== undefined) references.push(result.ref)
  }

  // per-cloud settings
  const region = regionOption ?? firstSet(env, 'AWS_REGION', 'AWS_DEFAULT_REGION')?.value
  if (region !== undefined && !/^[a-z]{2}(?:-[a-z]+)+-\d+$/.test(region)) add(regionOption !== undefined ? 'options.aws.region' : env.AWS_REGION !== undefined ? 'AWS_REGION' : 'AWS_DEFAULT_REGION', `"${region.slice(0, 40)}" is not an AWS region (e.g. eu-west-1)`)

  const vaultUrl = vaultUrlOption ?? (nonEmpty(env.AZURE_KEYVAULT_URL) ? env.AZURE_KEYVAULT_URL.trim() : undefined)
  let normalizedVault: string | undefined
  if (vaultUrl !== undefined) {
    const source = vaultUrlOption !== undefined ? 'options.azure.vaultUrl' : 'AZURE_KEYVAULT_URL'
    let url: URL | undefined
    try { url = new URL(vaultUrl) } catch { add(source, 'not a URL; expected https://VAULT-NAME.vault.azure.net') }
    if (url !== undefined) {
      if (url.protocol !== 'https:') add(source, 'Key Vault needs https://')
      else if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.username !== '' || url.password !== '') add(source, 'give the vault URL only (https://VAULT-NAME.vault.azure.net), no path or query')
      else normalizedVault = `https://${url.host.toLowerCase()}`
    }
  }
  if (references.some((r) => r.provider === 'azure' && !r.id.startsWith('https://')) && vaultUrl === undefined) {
    add('AZURE_KEYVAULT_URL', 'short Key Vault secret names need the default vault: set AZURE_KEYVAULT_URL=https://VAULT-NAME.vault.azure.net or use full secret URLs')
  }

  const projectId = projectIdOption ?? firstSet(env, 'GOOGLE_CLOUD_PROJECT', 'GCLOUD_PROJECT', 'GCP_PROJECT')?.value
  if (projectId !== undefined && !/^(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[a-z0-9.-]+:[a-z][a-z0-9-]{4,28}[a-z0-9]|\d+)$/.test(projectId)) {
    add(projectIdOption !== undefined ? 'options.gcp.projectId' : ['GOOGLE_CLOUD_PROJECT', 'GCLOUD_PROJECT', 'GCP_PROJECT'].find((name) => nonEmpty(env[name])) ?? 'GOOGLE_CLOUD_PROJECT', `"${projectId.slice(0, 40)}" is not a GCP project id`)
  }

  const localFile = localFileOption ?? (nonEmpty(env.CLOUD_SECRETS_LOCAL_FILE) ? env.CLOUD_SECRETS_LOCAL_FILE.trim() : undefined)
  const localValues = localOptions.values as Record<string, string> | undefined
  const localInput: unknown = localValues
  if (localInput !== undefined) {
    if (!isPlainObject(localInput)) add('options.local.values', 'must be an object of name → string value')
    else {
      for (const name of Object.keys(localInput)) {
        if (typeof localInput[name] !== 'string') add(`options.local.values.${clip(name)}`, 'must be a string')
      }
    }
  }

  // checks
  const scopes: string[] = []
  const scopesInput = checksOptions.scopes ?? (nonEmpty(env.CLOUD_SECRETS_CHECK_SCOPES) ? env.CLOUD_SECRETS_CHECK_SCOPES.split(/[\s,]+/).filter((s) => s.length > 0) : [])
  if (!Array.isArray(scopesInput)) add('options.checks.scopes', 'must be an array of scope strings')
  else {
    for (const scope of scopesInput) {
      if (typeof scope !== 'string' || !/^[\x21-\x7e]{1,512}$/.test(scope)) add(checksOptions.scopes !== undefined ? 'options.checks.scopes' : 'CLOUD_SECRETS_CHECK_SCOPES', `${shown(scope)} is not a scope (printable, no spaces)`)
      else scopes.push(scope)
    }
  }
  if (scopes.length > 0 && provider !== 'azure' && provider !== 'gcp') {
    // reported here, with every other problem, rather than after the config was accepted
    add(checksOptions.scopes !== undefined ? 'options.checks.scopes' : 'CLOUD_SECRETS_CHECK_SCOPES', `token scopes are checked on azure and gcp; provider ${provider ?? 'auto'} has none`)
  }
  const custom: Array<{ name: string, fn: CustomCheck }> = []
  const customInput: unknown = checksOptions.custom
  if (Array.isArray(customInput)) {
    customInput.forEach((fn: unknown, i) => {
      if (typeof fn !== 'function') add(`options.checks.custom[${i}]`, 'must be a function')
      else custom.push({ name: fn.name.length > 0 ? fn.name : `check #${i + 1}`, fn: fn as CustomCheck })
    })
  } else if (isRecord(customInput)) {
    for (const [name, fn] of Object.entries(customInput)) {
      if (typeof fn !== 'function') add(`options.checks.custom.${clip(name)}`, 'must be a function')
      else custom.push({ name, fn: fn as CustomCheck })
    }
  } else if (customInput !== undefined) {
    add('options.checks.custom', 'must be an array of functions or an object of name → function')
  }

  if (problems.length > 0) throw configError(problems)

  const providers: ProviderName[] = provider !== undefined ? [provider] : []
  for (const ref of references) if (!providers.includes(ref.provider)) providers.push(ref.provider)
  if (providers.length === 0) throw configError([{ source: 'CLOUD_SECRETS_PROVIDER', message: 'no provider could be chosen' }])

  return Object.freeze({
    provider,
    providerChosenBy,
    providers: Object.freeze(providers),
    references: Object.freeze(references),
    timeoutMs: timeoutMs ?? defaultTimeoutMs(pluginTimeout),
    aws: Object.freeze({ region }),
    azure: Object.freeze({ vaultUrl: normalizedVault }),
    gcp: Object.freeze({ projectId }),
    local: Object.freeze({ file: localFile, values: localValues === undefined ? undefined : Object.freeze({ ...localValues }) }),
    checks: Object.freeze({ scopes: Object.freeze(scopes), custom: Object.freeze(custom) }),
    refresh,
    env
  })
}

/** a wrong value echoed in a problem: short, and never String() of an object (null-prototype objects throw) */
function shown (value: unknown): string {
  return typeof value === 'string' ? `"${value.slice(0, 60)}"` : `a value of type ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value}`
}

/** an option key or alias echoed in a problem's source, kept short */
function clip (name: string): string {
  return name.length > 64 ? `${name.slice(0, 64)}…` : name
}

function readNumber (option: string, value: unknown, envName: string, env: Env, add: (source: string, message: string) => void, range: { min: number, max: number }): number | undefined {
  let n: number
  let source: string
  if (value !== undefined) {
    source = `options.${option}`
    if (typeof value !== 'number') { add(source, 'must be a number of milliseconds'); return undefined }
    n = value
  } else if (nonEmpty(env[envName])) {
    source = envName
    const text = env[envName].trim()
    if (!/^\d+$/.test(text)) { add(source, `"${text.slice(0, 40)}" is not a whole number of milliseconds`); return undefined }
    n = Number(text)
  } else {
    return undefined
  }
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) {
    add(source, `must be a whole number of milliseconds from ${range.min} to ${range.max}`)
    return undefined
  }
  return n
}
