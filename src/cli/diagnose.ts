import { performance } from 'node:perf_hooks'
import { Deadline } from '../deadline.js'
import { CloudSecretsError, isDeadlineError, ERROR_CATALOG, type ConfigProblem, type CredentialAttempt } from '../errors.js'
import type { SecretReport } from '../loader.js'
import { detectProviders, type NormalizedConfig } from '../options.js'
import type { GrantDocument, Provider } from '../providers/types.js'
import { createCloudContext } from '../cloud-context.js'
import type { SecretReference } from '../reference.js'
import { closeProviders, loadSecrets, normalizeConfig, refreshCosts, resolveIdentities, retryPolicy, runChecks, selectProviders, type ProviderFailure } from '../startup.js'
import { fleetCosts, type FleetCost } from '../refresh/cost.js'
import { isPolled } from '../refresh/refresher.js'
import type { CloudSecretsOptions, Identity, Logger, ProviderName } from '../types.js'

/**
 * `doctor` and `policy`: the plugin's own startup steps (src/startup.ts), run to the end instead of
 * stopping at the first failure, and turned into a report that names every value's size but
 * never the value. The CLI renders these reports; nothing here prints.
 */

/** The CLI has no Fastify pluginTimeout: the deadline is CLOUD_SECRETS_TIMEOUT_MS or 10 s. */
const NO_PLUGIN_TIMEOUT = 0

/** A classified failure, as the startup error carries it (same code, same fix). */
export interface ErrorReport {
  code?: string
  kind?: string
  /** what the error class means (from the error catalog) */
  title?: string
  /** the message without the fix */
  summary: string
  fix?: string
  provider?: ProviderName
  alias?: string
  secret?: string
  principal?: string
  permission?: string
  pending?: string[]
  problems?: ConfigProblem[]
  attempts?: CredentialAttempt[]
  check?: string
}

export interface ProviderReport {
  name: ProviderName
  status: 'ok' | 'failed'
  /** every credential source tried, with its outcome (provider.attempts()) */
  attempts: CredentialAttempt[]
  identity?: Identity
  error?: ErrorReport
}

export interface SecretLine {
  alias: string
  provider: ProviderName
  /** the reference as configured (names the secret, never holds it) */
  reference: string
  secret: string
  optional: boolean
  /** `skipped`: its provider has no identity, so it was not asked */
  status: 'ok' | 'absent' | 'failed' | 'skipped'
  store?: string
  version?: string
  bytes?: number
  ms?: number
  error?: ErrorReport
  reason?: string
}

export interface CheckLine {
  name: string
  status: 'ok' | 'failed' | 'skipped'
  error?: ErrorReport
}

export interface DoctorReport {
  command: 'doctor'
  /** everything would load: the app would start */
  ok: boolean
  /** 0 everything would load, 1 something would fail, 2 invalid configuration */
  exitCode: 0 | 1 | 2
  /** where the process runs, as the app's identity reports it, or as the env markers suggest */
  platform: string
  /** env vars that mark a cloud platform (what provider `auto` looks at) */
  markers: Array<{ provider: ProviderName, marker: string }>
  provider?: ProviderName
  providerChosenBy?: string
  timeoutMs?: number
  /** the CONFIG error when the options or env vars are invalid: nothing else ran */
  configError?: ErrorReport
  providers: ProviderReport[]
  checks: CheckLine[]
  secrets: SecretLine[]
  /** the deadline fired: what was still pending, and its fix */
  timeout?: ErrorReport
  /** warnings the plugin would log (e.g. a refresh interval under 60 s) */
  warnings: string[]
  /** background refresh as configured, and what it costs a fleet of `fleet` instances per store (absent when the config is invalid) */
  refresh?: RefreshReport
  ms: number
}

export interface RefreshReport {
  enabled: boolean
  intervalMs?: number
  jitter?: number
  staleAfterMs?: number
  source?: string
  /** aliases re-read each cycle, and those that never are (?refresh=off, version= pins) */
  polled: string[]
  notPolled: string[]
  fleet: number
  costs: FleetCost[]
}

export interface DiagnoseOptions {
  log: Logger
  /** warnings logged so far (the CLI's logger collects them) */
  warnings?: () => string[]
  /** called when a step starts, for a progress line */
  onProgress?: (step: string) => void
  /** doctor --fleet N: price the refresh interval for N instances (default 1) */
  fleet?: number
}

export function errorReport (err: unknown): ErrorReport {
  if (!(err instanceof CloudSecretsError)) {
    return { summary: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }
  }
  return {
    code: err.code,
    kind: err.kind,
    title: ERROR_CATALOG[err.kind].title,
    summary: err.summary,
    fix: err.fix,
    provider: err.provider,
    alias: err.alias,
    secret: err.secret,
    principal: err.principal,
    permission: err.permission,
    pending: err.pending,
    problems: err.problems,
    attempts: err.attempts,
    check: err.check
  }
}

function describePlatform (markers: DoctorReport['markers']): string {
  if (markers.length === 0) return 'no cloud platform detected (no platform env marker is set)'
  return markers.map((m) => `${m.provider} (${m.marker} is set)`).join(', ')
}

function configFailure (err: unknown, markers: DoctorReport['markers'], started: number, warnings: string[]): DoctorReport {
  return {
    command: 'doctor',
    ok: false,
    exitCode: err instanceof CloudSecretsError && err.kind === 'CONFIG' ? 2 : 1,
    platform: describePlatform(markers),
    markers,
    configError: errorReport(err),
    providers: [],
    checks: [],
    secrets: [],
    warnings,
    ms: Math.round(performance.now() - started)
  }
}

function envOf (options: CloudSecretsOptions): Readonly<Record<string, string | undefined>> {
  const env: unknown = (options as { env?: unknown } | undefined)?.env
  return typeof env === 'object' && env !== null ? env as Record<string, string | undefined> : process.env
}

/** Runs every startup step against the real stores and reports each outcome. Never throws for a failure. */
export async function diagnose (options: CloudSecretsOptions, { log, warnings = () => [], onProgress = () => {}, fleet = 1 }: DiagnoseOptions): Promise<DoctorReport> {
  const started = performance.now()
  const markers = detectProviders(envOf(options))
  onProgress('reading configuration')
  let config: NormalizedConfig
  try {
    config = normalizeConfig(options, NO_PLUGIN_TIMEOUT, log)
  } catch (err) {
    return configFailure(err, markers, started, warnings())
  }

  const deadline = new Deadline(config.timeoutMs)
  const retry = retryPolicy()
  const providers = new Map<ProviderName, Provider>()
  const secretReports = new Map<string, SecretReport>()
  let timeout: CloudSecretsError | undefined
  let selectFailures: ProviderFailure[] = []
  let identityFailures: ProviderFailure[] = []
  let identities: Partial<Record<ProviderName, Identity>> = {}
  const checks: CheckLine[] = []
  try {
    onProgress(`loading provider ${config.providers.join(', ')}`)
    selectFailures = await selectProviders(config, providers, deadline, log)
    onProgress('resolving identity')
    ;({ identities, failures: identityFailures } = await resolveIdentities(providers, deadline, log, retry))
    timeout = [...selectFailures, ...identityFailures].map((f) => f.error).find(isDeadlineError)

    const allIdentities = config.providers.every((name) => identities[name] !== undefined)
    const checkNames = [...(config.checks.scopes.length > 0 ? ['token scopes'] : []), ...config.checks.custom.map((c) => c.name)]
    if (checkNames.length > 0 && allIdentities && timeout === undefined) {
      onProgress('running startup checks')
      const cloud = createCloudContext(identities[config.providers[0]] as Identity, identities, Object.fromEntries([...providers].map(([name, p]) => [name, p.clients()])))
      try {
        const failures = await runChecks(config, providers, cloud, deadline, log, retry)
        for (const name of checkNames) {
          const failure = failures.find((f) => f.check === name)
          checks.push(failure === undefined ? { name, status: 'ok' } : { name, status: 'failed', error: errorReport(failure) })
        }
      } catch (err) {
        if (!isDeadlineError(err)) throw err
        timeout = err
      }
    }
    for (const name of checkNames) {
      if (!checks.some((c) => c.name === name)) checks.push({ name, status: 'skipped' })
    }

    const loadable = config.references.filter((ref) => identities[ref.provider] !== undefined)
    if (loadable.length > 0 && timeout === undefined) {
      onProgress(`loading ${loadable.length} secret${loadable.length === 1 ? '' : 's'}`)
      try {
        await loadSecrets(loadable, providers, identities, deadline, log, { retry, onSecret: (report) => secretReports.set(report.alias, report) })
      } catch (err) {
        if (!isDeadlineError(err)) throw err
        timeout = err
      }
    }
    if (timeout === undefined && deadline.isExpired) timeout = deadline.error
  } finally {
    onProgress('closing clients')
    await closeProviders(providers, log)
    deadline.dispose()
  }

  const failureOf = (name: ProviderName): unknown =>
    (selectFailures.find((f) => f.provider === name) ?? identityFailures.find((f) => f.provider === name))?.error
  const providerReports: ProviderReport[] = config.providers.map((name) => {
    const error = failureOf(name)
    const attempts = providers.get(name)?.attempts?.() ?? (error instanceof CloudSecretsError ? error.attempts : undefined) ?? []
    const identity = identities[name]
    return error === undefined && identity !== undefined
      ? { name, status: 'ok', attempts, identity }
      : { name, status: 'failed', attempts, error: errorReport(error ?? timeout) }
  })
  const timeoutReport = timeout === undefined ? undefined : errorReport(timeout)
  const secrets = config.references.map((ref) => secretLine(ref, secretReports.get(ref.alias), identities[ref.provider] !== undefined, timeoutReport))

  const primary = config.provider === undefined ? undefined : identities[config.provider]
  const ok = providerReports.every((p) => p.status === 'ok') &&
    checks.every((c) => c.status === 'ok') &&
    secrets.every((s) => s.status === 'ok' || s.status === 'absent') &&
    timeout === undefined
  return {
    command: 'doctor',
    ok,
    exitCode: ok ? 0 : 1,
    platform: primary?.platform ?? identities[config.providers[0]]?.platform ?? describePlatform(markers),
    markers,
    provider: config.provider,
    providerChosenBy: config.providerChosenBy,
    timeoutMs: config.timeoutMs,
    providers: providerReports,
    checks,
    secrets,
    timeout: timeoutReport,
    warnings: warnings(),
    refresh: refreshReport(config, providers, fleet),
    ms: Math.round(performance.now() - started)
  }
}

function refreshReport (config: NormalizedConfig, providers: ReadonlyMap<ProviderName, Provider>, fleet: number): RefreshReport {
  const polled = config.references.filter(isPolled).map((r) => r.alias)
  const notPolled = config.references.filter((r) => !isPolled(r)).map((r) => r.alias)
  const refresh = config.refresh
  if (refresh === undefined) return { enabled: false, polled: [], notPolled: config.references.map((r) => r.alias), fleet, costs: [] }
  return { enabled: true, intervalMs: refresh.intervalMs, jitter: refresh.jitter, staleAfterMs: refresh.staleAfterMs, source: refresh.source, polled, notPolled, fleet, costs: fleetCosts(refreshCosts(config, providers), refresh.intervalMs, fleet) }
}

function secretLine (ref: SecretReference, report: SecretReport | undefined, hasIdentity: boolean, timeout: ErrorReport | undefined): SecretLine {
  const base = { alias: ref.alias, provider: ref.provider, reference: ref.raw, secret: ref.id, optional: ref.optional }
  if (report === undefined) {
    if (!hasIdentity) return { ...base, status: 'skipped', reason: `not asked: provider ${ref.provider} has no identity (see above)` }
    return { ...base, status: 'failed', error: timeout ?? { summary: 'not loaded' } }
  }
  const { status, store, version, bytes, ms, error } = report
  return { ...base, status, store, version, bytes, ms, ...(error === undefined ? {} : { error: errorReport(error) }) }
}

/** `policy`: the least-privilege grant of each provider for its configured secrets. */
export interface PolicyProviderReport {
  name: ProviderName
  /** the principal the grant is for */
  principal?: string
  /** `--principal` when given, else the credential source that answered */
  principalFrom?: string
  /** the aliases this provider serves */
  aliases: string[]
  documents: GrantDocument[]
  /** why there is nothing to grant, when there is not */
  note?: string
  error?: ErrorReport
}

export interface PolicyReport {
  command: 'policy'
  ok: boolean
  exitCode: 0 | 1 | 2
  provider?: ProviderName
  configError?: ErrorReport
  providers: PolicyProviderReport[]
  warnings: string[]
}

export interface PolicyOptions extends DiagnoseOptions {
  /** principal per provider (`--principal [provider=]id`); key `*` applies to every provider */
  principals?: ReadonlyMap<ProviderName | '*', string>
}

/** Builds each provider's grant(); looks the identity up only for providers without a given principal. */
export async function policy (options: CloudSecretsOptions, { log, warnings = () => [], onProgress = () => {}, principals = new Map() }: PolicyOptions): Promise<PolicyReport> {
  onProgress('reading configuration')
  let config: NormalizedConfig
  try {
    config = normalizeConfig(options, NO_PLUGIN_TIMEOUT, log)
  } catch (err) {
    return { command: 'policy', ok: false, exitCode: err instanceof CloudSecretsError && err.kind === 'CONFIG' ? 2 : 1, configError: errorReport(err), providers: [], warnings: warnings() }
  }
  const givenFor = (name: ProviderName): string | undefined => principals.get(name) ?? principals.get('*')
  const deadline = new Deadline(config.timeoutMs)
  const retry = retryPolicy()
  const providers = new Map<ProviderName, Provider>()
  const reports: PolicyProviderReport[] = []
  try {
    onProgress(`loading provider ${config.providers.join(', ')}`)
    const selectFailures = await selectProviders(config, providers, deadline, log)
    // a given principal needs no credential lookup; neither does a provider that grants nothing
    const lookup = new Map([...providers].filter(([name, p]) => p.grant !== undefined && givenFor(name) === undefined))
    if (lookup.size > 0) onProgress('resolving identity')
    const { identities, failures } = await resolveIdentities(lookup, deadline, log, retry)
    for (const name of config.providers) {
      const refs = config.references.filter((r) => r.provider === name)
      const report: PolicyProviderReport = { name, aliases: refs.map((r) => r.alias), documents: [] }
      reports.push(report)
      const provider = providers.get(name)
      const failure = [...selectFailures, ...failures].find((f) => f.provider === name)
      if (failure !== undefined || provider === undefined) {
        report.error = errorReport(failure?.error)
        continue
      }
      if (name === 'local') {
        report.note = 'provider local reads values from CLOUD_SECRETS_LOCAL_FILE or options.local.values: there is no cloud identity and nothing to grant'
        continue
      }
      if (provider.grant === undefined) {
        report.note = `provider ${name} does not describe its grants`
        continue
      }
      const given = givenFor(name)
      const identity: Identity = given !== undefined
        ? { provider: name, platform: 'unknown', source: 'given', principal: given, region: config.aws.region, project: config.gcp.projectId }
        : identities[name] as Identity
      report.principal = identity.principal
      report.principalFrom = given !== undefined ? '--principal' : identity.source
      report.documents = provider.grant(refs, identity)
      if (refs.length === 0 && report.documents.length === 0) report.note = `no secret is configured for provider ${name}: nothing to grant`
    }
  } finally {
    await closeProviders(providers, log)
    deadline.dispose()
  }
  const ok = reports.every((r) => r.error === undefined)
  return { command: 'policy', ok, exitCode: ok ? 0 : 1, provider: config.provider, providers: reports, warnings: warnings() }
}
