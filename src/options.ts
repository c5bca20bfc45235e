import { configError, type ConfigProblem } from './errors.js'
import type { ProviderDescriptor } from './providers/descriptor.js'
import { descriptorOf, DESCRIPTORS, DESCRIPTORS_IN_OPTIONS_ORDER, PROVIDER_NAMES, type ProviderSettings } from './providers/registry.js'
import { aliasProblem, parseReference, resolveReference, splitSecretsEnv, type ParsedReference, type SecretReference } from './reference.js'
import { readRefresh, type RefreshConfig } from './refresh/interval.js'
import { nonEmpty, type Env } from './shared/env.js'
import { clip, isPlainObject, isRecord, shown } from './shared/input.js'
import type { CloudSecretsOptions, CustomCheck, ProviderName } from './types.js'

export type { Env }

/**
 * The frozen internal config: options and env vars, validated once. Each store's settings sit
 * under its name (`config[name]`), read by its descriptor.
 */
export interface NormalizedConfig extends ProviderSettings {
  /** the app's provider; undefined only when `auto` found nothing and every reference names its scheme */
  readonly provider?: ProviderName
  /** how the provider was chosen: `option`, `env CLOUD_SECRETS_PROVIDER`, or the platform marker seen */
  readonly providerChosenBy: string
  /** every provider this startup needs, the app's first */
  readonly providers: readonly ProviderName[]
  readonly references: readonly SecretReference[]
  readonly timeoutMs: number
  readonly checks: { readonly scopes: readonly string[], readonly custom: ReadonlyArray<{ name: string, fn: CustomCheck }> }
  /** background refresh; undefined: secrets are loaded once */
  readonly refresh?: RefreshConfig
  readonly env: Env
}

/** Which stores' platform markers are set (provider `auto`), in the registry's order. */
export function detectProviders (env: Env): Array<{ provider: ProviderName, marker: string }> {
  const found: Array<{ provider: ProviderName, marker: string }> = []
  for (const descriptor of DESCRIPTORS) {
    const marker = descriptor.platformMarkers.find((name) => nonEmpty(env[name]))
    if (marker !== undefined) found.push({ provider: descriptor.name, marker })
  }
  return found
}

/** env vars the core and the stores read; in options.env each must be a string when set */
const ENV_NAMES = ['CLOUD_SECRETS_PROVIDER', 'CLOUD_SECRETS', 'CLOUD_SECRETS_TIMEOUT_MS', 'CLOUD_SECRETS_REFRESH_MS', 'CLOUD_SECRETS_CHECK_SCOPES',
  ...DESCRIPTORS.flatMap((d) => [...d.envVars, ...d.platformMarkers])]

const KNOWN_OPTIONS = new Set(['provider', 'secrets', 'timeoutMs', ...DESCRIPTORS_IN_OPTIONS_ORDER.map((d) => d.section), 'checks', 'refresh', 'env', 'signal'])
const MAX_TIMEOUT_MS = 15 * 60 * 1000
const MAX_SECRETS = 1000
/** used when Fastify's pluginTimeout is disabled (0) */
const DEFAULT_TIMEOUT_MS = 10_000

/** Default deadline: leave Fastify's own plugin timer room to never fire first. */
export function defaultTimeoutMs (pluginTimeout: number): number {
  if (!(pluginTimeout > 0)) return DEFAULT_TIMEOUT_MS
  return Math.max(1, pluginTimeout - Math.min(1000, Math.ceil(pluginTimeout * 0.2)))
}

/** The one list every reader adds to; thrown as one CONFIG error when it is not empty. */
class Problems {
  readonly list: ConfigProblem[] = []
  add (source: string, message: string, extra: Partial<ConfigProblem> = {}): void { this.list.push({ source, message, ...extra }) }
  push (...problems: ConfigProblem[]): void { this.list.push(...problems) }
}

/**
 * Options and env vars → the frozen config. Plain JavaScript callers can pass anything: a wrong
 * type is a listed problem, never a TypeError (and never a number where a path is expected: fs
 * would read that file descriptor). Every problem is reported together, before any network call.
 */
export function normalizeOptions (options: CloudSecretsOptions, fastify: { pluginTimeout: number }): NormalizedConfig {
  const raw: unknown = options
  if (!isRecord(raw)) throw configError([{ source: 'options', message: 'plugin options must be an object' }])
  const problems = new Problems()

  readUnknownOptions(options, problems)
  const env = readEnv(options, problems)
  readSignal(options, problems)
  const sections = readSections(options, problems)
  const { timeoutMs, refresh } = readTimeouts(options, env, fastify.pluginTimeout, problems)
  const choice = readProvider(options, env, sections, problems)
  const parsed = readSecrets(options, env, problems)
  const references = resolveReferences(parsed, choice, problems)
  const settings = readProviderSettings(sections, env, references, problems)
  const checks = readChecks(sections.get('checks') ?? {}, env, choice.provider, problems)

  if (problems.list.length > 0) throw configError(problems.list)

  const providers: ProviderName[] = choice.provider !== undefined ? [choice.provider] : []
  for (const ref of references) if (!providers.includes(ref.provider)) providers.push(ref.provider)
  if (providers.length === 0) throw configError([{ source: 'CLOUD_SECRETS_PROVIDER', message: 'no provider could be chosen' }])

  return Object.freeze({
    ...settings,
    provider: choice.provider,
    providerChosenBy: choice.chosenBy,
    providers: Object.freeze(providers),
    references: Object.freeze(references),
    timeoutMs: timeoutMs ?? defaultTimeoutMs(fastify.pluginTimeout),
    checks,
    refresh,
    env
  })
}

function readUnknownOptions (options: CloudSecretsOptions, problems: Problems): void {
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(key)) problems.add(`options.${clip(key)}`, `unknown option; known options: ${[...KNOWN_OPTIONS].join(', ')}`)
  }
}

/** options.env (default process.env); each env var we read must be a string there */
function readEnv (options: CloudSecretsOptions, problems: Problems): Env {
  const input: unknown = options.env
  let env: Env = process.env
  if (input !== undefined) {
    if (isRecord(input)) env = input as Env
    else { problems.add('options.env', 'must be an object of env var name → string'); env = {} }
  }
  for (const name of ENV_NAMES) {
    if (env[name] !== undefined && typeof env[name] !== 'string') problems.add(`options.env.${name}`, 'must be a string')
  }
  return env
}

function readSignal (options: CloudSecretsOptions, problems: Problems): void {
  const signal: unknown = options.signal
  if (signal !== undefined && !(signal instanceof AbortSignal)) problems.add('options.signal', 'must be an AbortSignal (e.g. new AbortController().signal)')
}

/** Each store's options section and `checks`: an object when given ({} when absent or wrong). */
function readSections (options: CloudSecretsOptions, problems: Problems): Map<string, Record<string, unknown>> {
  const sections = new Map<string, Record<string, unknown>>()
  const raw = options as Record<string, unknown>
  for (const name of [...DESCRIPTORS_IN_OPTIONS_ORDER.map((d) => d.section), 'checks']) {
    const value = raw[name]
    if (value === undefined) sections.set(name, {})
    else if (!isRecord(value)) { problems.add(`options.${name}`, 'must be an object'); sections.set(name, {}) } else sections.set(name, value)
  }
  return sections
}

/** The startup deadline (below Fastify's pluginTimeout) and the refresh interval. */
function readTimeouts (options: CloudSecretsOptions, env: Env, pluginTimeout: number, problems: Problems): { timeoutMs?: number, refresh?: RefreshConfig } {
  const timeoutMs = readMilliseconds('timeoutMs', options.timeoutMs, 'CLOUD_SECRETS_TIMEOUT_MS', env, problems, { min: 1, max: MAX_TIMEOUT_MS })
  const refresh = readRefresh(options.refresh, typeof env.CLOUD_SECRETS_REFRESH_MS === 'string' ? env.CLOUD_SECRETS_REFRESH_MS : undefined, (p) => problems.push(p))
  if (timeoutMs !== undefined && pluginTimeout > 0 && timeoutMs >= pluginTimeout) {
    problems.add(options.timeoutMs !== undefined ? 'options.timeoutMs' : 'CLOUD_SECRETS_TIMEOUT_MS',
      `the startup deadline (${timeoutMs} ms) must be below Fastify's pluginTimeout (${pluginTimeout} ms), or Fastify's generic FST_ERR_PLUGIN_TIMEOUT fires first; raise Fastify({ pluginTimeout }) or lower the deadline`)
  }
  return { timeoutMs, refresh }
}

interface ProviderChoice {
  provider?: ProviderName
  chosenBy: string
  /** `auto` could not choose: the problem, reported only when a reference needs the app's provider */
  unresolved?: string
  /** where the setting came from (options.provider or CLOUD_SECRETS_PROVIDER) */
  source: string
}

/** options.provider, else CLOUD_SECRETS_PROVIDER, else `auto`: a platform marker, else a store configured without one. */
function readProvider (options: CloudSecretsOptions, env: Env, sections: ReadonlyMap<string, Record<string, unknown>>, problems: Problems): ProviderChoice {
  let setting: unknown
  let source = 'options.provider'
  if (options.provider !== undefined) {
    setting = options.provider
  } else if (nonEmpty(env.CLOUD_SECRETS_PROVIDER)) {
    setting = env.CLOUD_SECRETS_PROVIDER.trim().toLowerCase()
    source = 'CLOUD_SECRETS_PROVIDER'
  }
  const names = PROVIDER_NAMES.join(', ')
  if (setting !== undefined && setting !== 'auto') {
    if ((PROVIDER_NAMES as readonly unknown[]).includes(setting)) return { provider: setting as ProviderName, chosenBy: source, source }
    problems.add(source, `${shown(setting)} is not a provider; choose one of ${names}, auto`)
    return { chosenBy: source, source }
  }
  // auto: reported as options.provider only when the option said auto
  const autoSource = options.provider !== undefined ? 'options.provider' : 'CLOUD_SECRETS_PROVIDER'
  const detected = detectProviders(env)
  if (detected.length === 1) return { provider: detected[0].provider, chosenBy: `auto (${detected[0].marker} is set)`, source: autoSource }
  if (detected.length > 1) {
    return { chosenBy: source, source: autoSource, unresolved: `provider auto found markers of several clouds (${detected.map((d) => `${d.marker} → ${d.provider}`).join(', ')}); set CLOUD_SECRETS_PROVIDER to one of ${names}` }
  }
  for (const descriptor of DESCRIPTORS) {
    const reason = descriptor.chosenWithoutPlatform?.(sections.get(descriptor.section) ?? {}, env)
    if (reason !== undefined) return { provider: descriptor.name, chosenBy: `auto (${reason})`, source: autoSource }
  }
  return { chosenBy: source, source: autoSource, unresolved: `provider auto detected no cloud platform; set CLOUD_SECRETS_PROVIDER to one of ${names} (on a laptop, the cloud whose CLI you are logged in to)` }
}

interface ParsedSecret { alias: string, ref: ParsedReference, source: string }

/** options.secrets, else CLOUD_SECRETS: each alias and reference parsed (not yet per store). */
function readSecrets (options: CloudSecretsOptions, env: Env, problems: Problems): ParsedSecret[] {
  const parsed: ParsedSecret[] = []
  const seen = new Set<string>()
  const take = (alias: string, reference: unknown, source: string, aliasPosition: number | undefined, referenceOffset: number): void => {
    const bad = aliasProblem(alias, source, aliasPosition)
    if (bad !== undefined) { problems.push(bad); return }
    if (seen.has(alias)) { problems.add(source, 'the alias is defined twice', { alias, position: aliasPosition }); return }
    seen.add(alias)
    if (typeof reference !== 'string') { problems.add(source, 'the reference must be a string', { alias }); return }
    const result = parseReference(alias, reference, source, referenceOffset)
    problems.push(...result.problems)
    if (result.ref !== undefined) parsed.push({ alias, ref: result.ref, source })
  }
  const input: unknown = options.secrets
  if (input !== undefined) {
    if (!isPlainObject(input)) {
      problems.add('options.secrets', 'must be an object mapping alias → reference')
    } else {
      for (const alias of Object.keys(input)) take(alias, input[alias], `options.secrets.${clip(alias)}`, undefined, 0)
    }
  } else if (typeof env.CLOUD_SECRETS === 'string') {
    const split = splitSecretsEnv(env.CLOUD_SECRETS)
    problems.push(...split.problems)
    for (const entry of split.entries) take(entry.alias, entry.reference, 'CLOUD_SECRETS', entry.aliasPosition, entry.referenceOffset)
  }
  if (seen.size > MAX_SECRETS) problems.add(input !== undefined ? 'options.secrets' : 'CLOUD_SECRETS', `at most ${MAX_SECRETS} secrets can be configured (${seen.size} given)`)
  return parsed
}

/** Each parsed reference checked against the grammar of its store (its scheme's, else the app's provider's). */
function resolveReferences (parsed: readonly ParsedSecret[], choice: ProviderChoice, problems: Problems): SecretReference[] {
  if (choice.unresolved !== undefined && (parsed.length === 0 || parsed.some((p) => p.ref.provider === undefined))) problems.add(choice.source, choice.unresolved)
  const references: SecretReference[] = []
  for (const p of parsed) {
    const target = p.ref.provider ?? choice.provider
    if (target === undefined) continue
    const result = resolveReference(p.alias, p.ref, target, p.source)
    problems.push(...result.problems)
    if (result.ref !== undefined) references.push(result.ref)
  }
  return references
}

/** Every store's settings, read by its descriptor from its options section and env vars (whether or not it is used). */
function readProviderSettings (sections: ReadonlyMap<string, Record<string, unknown>>, env: Env, references: readonly SecretReference[], problems: Problems): ProviderSettings {
  const settings: Record<string, object> = {}
  for (const descriptor of DESCRIPTORS_IN_OPTIONS_ORDER) {
    const section = sections.get(descriptor.section) ?? {}
    const text = (key: string): string | undefined => {
      const value = section[key]
      if (value === undefined || typeof value === 'string') return value
      problems.add(`options.${descriptor.section}.${key}`, 'must be a string')
      return undefined
    }
    const add = (source: string, message: string): void => { problems.add(source, message) }
    settings[descriptor.name] = Object.freeze(descriptor.readSettings({ section, env, references: references.filter((r) => r.provider === descriptor.name), add, text }))
  }
  return settings as unknown as ProviderSettings
}

/** The stores that acquire extra token scopes at boot (checks.scopes). */
const SCOPE_STORES: readonly ProviderDescriptor[] = DESCRIPTORS_IN_OPTIONS_ORDER.filter((d) => d.scopes)

/** checks.scopes (or CLOUD_SECRETS_CHECK_SCOPES) and checks.custom. */
function readChecks (section: Record<string, unknown>, env: Env, provider: ProviderName | undefined, problems: Problems): NormalizedConfig['checks'] {
  const scopesSource = section.scopes !== undefined ? 'options.checks.scopes' : 'CLOUD_SECRETS_CHECK_SCOPES'
  const scopes: string[] = []
  const scopesInput = section.scopes ?? (nonEmpty(env.CLOUD_SECRETS_CHECK_SCOPES) ? env.CLOUD_SECRETS_CHECK_SCOPES.split(/[\s,]+/).filter((s) => s.length > 0) : [])
  if (!Array.isArray(scopesInput)) problems.add('options.checks.scopes', 'must be an array of scope strings')
  else {
    for (const scope of scopesInput) {
      if (typeof scope !== 'string' || !/^[\x21-\x7e]{1,512}$/.test(scope)) problems.add(scopesSource, `${shown(scope)} is not a scope (printable, no spaces)`)
      else scopes.push(scope)
    }
  }
  if (scopes.length > 0 && (provider === undefined || !descriptorOf(provider).scopes)) {
    // reported here, with every other problem, rather than after the config was accepted
    problems.add(scopesSource, `token scopes are checked on ${SCOPE_STORES.map((d) => d.name).join(' and ')}; provider ${provider ?? 'auto'} has none`)
  }
  const custom: Array<{ name: string, fn: CustomCheck }> = []
  const customInput: unknown = section.custom
  if (Array.isArray(customInput)) {
    customInput.forEach((fn: unknown, i) => {
      if (typeof fn !== 'function') problems.add(`options.checks.custom[${i}]`, 'must be a function')
      else custom.push({ name: fn.name.length > 0 ? fn.name : `check #${i + 1}`, fn: fn as CustomCheck })
    })
  } else if (isRecord(customInput)) {
    for (const [name, fn] of Object.entries(customInput)) {
      if (typeof fn !== 'function') problems.add(`options.checks.custom.${clip(name)}`, 'must be a function')
      else custom.push({ name, fn: fn as CustomCheck })
    }
  } else if (customInput !== undefined) {
    problems.add('options.checks.custom', 'must be an array of functions or an object of name → function')
  }
  return Object.freeze({ scopes: Object.freeze(scopes), custom: Object.freeze(custom) })
}

function readMilliseconds (option: string, value: unknown, envName: string, env: Env, problems: Problems, range: { min: number, max: number }): number | undefined {
  let n: number
  let source: string
  if (value !== undefined) {
    source = `options.${option}`
    if (typeof value !== 'number') { problems.add(source, 'must be a number of milliseconds'); return undefined }
    n = value
  } else if (nonEmpty(env[envName])) {
    source = envName
    const text = env[envName].trim()
    if (!/^\d+$/.test(text)) { problems.add(source, `"${text.slice(0, 40)}" is not a whole number of milliseconds`); return undefined }
    n = Number(text)
  } else {
    return undefined
  }
  if (!Number.isSafeInteger(n) || n < range.min || n > range.max) {
    problems.add(source, `must be a whole number of milliseconds from ${range.min} to ${range.max}`)
    return undefined
  }
  return n
}
