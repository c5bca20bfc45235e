import { performance } from 'node:perf_hooks'
import { CloudSecretsError, isDeadlineError } from './errors.js'
import { extractKey } from './json-key.js'
import type { SecretReference } from './reference.js'
import { createLimiter, withRetry, type RetryPolicy } from './retry.js'
import type { Deadline } from './deadline.js'
import type { LoadContext, Provider, SecretOutcome, StepContext } from './providers/types.js'
import type { Identity, Logger, ProviderName } from './types.js'

/**
 * Reads in flight at once per provider. Stores without a batch read (one request per secret)
 * take ceil(N / concurrency) round trips, so this is set well above typical secret counts while
 * staying far below the stores' per-store rate limits.
 */
export const DEFAULT_CONCURRENCY = 64

export function createStepContext (deadline: Deadline, log: Logger, policy?: RetryPolicy): StepContext {
  return {
    deadline,
    log,
    retry: async (label, attempt, classify) => await withRetry(deadline, label, attempt, classify, policy, (err, delayMs, n) => {
      log.debug({ step: label, code: err.code, attempt: n, delayMs }, 'retrying')
    })
  }
}

/** What became of one secret, without its value: for `doctor` and for tests. */
export interface SecretReport {
  alias: string
  provider: ProviderName
  /** the secret's id as the store knows it */
  secret: string
  /** `absent`: an ?optional secret (or JSON key) that does not exist */
  status: 'ok' | 'absent' | 'failed'
  store?: string
  version?: string
  /** UTF-8 byte length of the value app.secrets would hold */
  bytes?: number
  ms: number
  error?: CloudSecretsError
}

export interface LoadedSecrets {
  values: Map<string, string | undefined>
  failures: CloudSecretsError[]
}

/**
 * Loads every reference through its provider (all providers at once, each with bounded
 * concurrency), applies `#json.key` and `?optional`, and collects every failure.
 */
export async function loadAllSecrets (
  references: readonly SecretReference[],
  providers: ReadonlyMap<ProviderName, Provider>,
  identities: Partial<Record<ProviderName, Identity>>,
  deadline: Deadline,
  log: Logger,
  options: { concurrency?: number, retry?: RetryPolicy, onSecret?: (report: SecretReport) => void, wasAbsent?: (alias: string) => boolean } = {}
): Promise<LoadedSecrets> {
  const values = new Map<string, string | undefined>()
  const failures: CloudSecretsError[] = []
  const byProvider = new Map<ProviderName, SecretReference[]>()
  for (const ref of references) {
    const list = byProvider.get(ref.provider) ?? []
    list.push(ref)
    byProvider.set(ref.provider, list)
  }

  await Promise.all([...byProvider].map(async ([name, refs]) => {
    const provider = providers.get(name) as Provider
    const ctx: LoadContext = {
      ...createStepContext(deadline, log, options.retry),
      identity: identities[name] as Identity,
      limit: createLimiter(options.concurrency ?? DEFAULT_CONCURRENCY)
    }
    const started = performance.now()
    let outcomes: Map<string, SecretOutcome>
    try {
      outcomes = await deadline.run(`secrets from ${name}`, async () => await provider.loadSecrets(refs, ctx))
    } catch (err) {
      if (isDeadlineError(err)) throw err
      const error = err instanceof CloudSecretsError
        ? err
        : new CloudSecretsError('UNAVAILABLE', `provider ${name} failed while loading secrets: ${(err as Error).message}`, { provider: name, cause: err })
      outcomes = new Map(refs.map((ref) => [ref.alias, { ok: false, error }]))
    }
    for (const ref of refs) {
      const outcome = outcomes.get(ref.alias) ?? {
        ok: false,
        error: new CloudSecretsError('UNAVAILABLE', `provider ${name} returned no result for this secret`, { provider: name })
      }
      const elapsed = performance.now() - started
      const settled = settle(ref, outcome, ctx.identity, log, elapsed, options.wasAbsent?.(ref.alias) === true ? 'debug' : 'warn')
      if (settled instanceof CloudSecretsError) {
        failures.push(settled)
        deadline.recordFailure(settled)
      } else {
        values.set(ref.alias, settled.value)
      }
      options.onSecret?.(reportOf(ref, outcome, settled, elapsed))
    }
  }))

  // keep the configured order in app.secrets
  const ordered = new Map<string, string | undefined>()
  for (const ref of references) if (values.has(ref.alias)) ordered.set(ref.alias, values.get(ref.alias))
  return { values: ordered, failures }
}

function reportOf (ref: SecretReference, outcome: SecretOutcome, settled: CloudSecretsError | { value: string | undefined }, elapsed: number): SecretReport {
  const ms = Math.round(outcome.ok ? outcome.ms ?? elapsed : elapsed)
  const base = { alias: ref.alias, provider: ref.provider, secret: ref.id, ms }
  if (settled instanceof CloudSecretsError) return { ...base, status: 'failed', error: settled, ...(outcome.ok ? { store: outcome.store, version: outcome.version } : {}) }
  if (settled.value === undefined) return { ...base, status: 'absent', ...(outcome.ok ? { store: outcome.store, version: outcome.version } : {}) }
  const { store, version } = outcome as Extract<SecretOutcome, { ok: true }>
  return { ...base, status: 'ok', store, version, bytes: Buffer.byteLength(settled.value, 'utf8') }
}

/** `absentLevel`: warn when an optional secret becomes absent; debug when it already was (a refresh cycle). */
function settle (ref: SecretReference, outcome: SecretOutcome, identity: Identity, log: Logger, elapsed: number, absentLevel: 'warn' | 'debug'): CloudSecretsError | { value: string | undefined } {
  if (!outcome.ok) {
    const error = outcome.error.alias === ref.alias ? outcome.error : outcome.error.forAlias(ref.alias, outcome.error.secret ?? ref.id)
    if (ref.optional && error.kind === 'NOT_FOUND') {
      log[absentLevel]({ alias: ref.alias, provider: ref.provider, secret: ref.id, code: error.code }, 'optional secret is absent; app.secrets.%s is undefined', ref.alias)
      return { value: undefined }
    }
    return error
  }
  let value: string | undefined = outcome.value
  if (ref.key !== undefined) {
    const extracted = extractKey(outcome.value, ref.key)
    const path = ref.key.join('.')
    if (!extracted.ok) {
      const error = new CloudSecretsError('NOT_FOUND', extracted.reason === 'not-json'
        ? `secret ${ref.id} is not a JSON object, so key "${path}" cannot be read`
        : `secret ${ref.id} has no JSON key "${path}"`, {
        provider: ref.provider,
        alias: ref.alias,
        secret: ref.id,
        principal: identity.principal,
        fix: extracted.reason === 'not-json'
          ? `store a JSON object in ${ref.id}, or drop "#${path}" from the reference of ${ref.alias}`
          : `add "${path}" to the JSON of ${ref.id}, fix the path after #, or mark the reference ?optional`
      })
      if (ref.optional) {
        log[absentLevel]({ alias: ref.alias, provider: ref.provider, secret: ref.id, code: error.code }, 'optional JSON key is absent; app.secrets.%s is undefined', ref.alias)
        return { value: undefined }
      }
      return error
    }
    value = extracted.value
  }
  log.debug({ alias: ref.alias, provider: ref.provider, store: outcome.store, version: outcome.version, ms: Math.round(outcome.ms ?? elapsed) }, 'secret loaded')
  return { value }
}
