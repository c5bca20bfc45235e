import { DESCRIPTORS } from './providers/registry.js'
import type { ProviderName } from './provider-name.js'

/** each store's local login command, from its descriptor, for the NO_CREDENTIALS fix */
const LOGINS = DESCRIPTORS.flatMap((d) => d.login === undefined ? [] : [d.login]).join(' / ')

/**
 * The one error catalog. Every error the plugin raises is a CloudSecretsError whose `code` is
 * `FST_CLOUD_SECRETS_<KIND>`; the README's error table is generated from the same words.
 */
export const ERROR_CATALOG = {
  ALREADY_REGISTERED: {
    title: 'The plugin was registered twice on one Fastify instance; nothing was contacted',
    fix: 'register fastify-cloud-secrets once per instance (list every secret in that one registration)'
  },
  CONFIG: {
    title: 'Invalid configuration (options or env vars); nothing was contacted',
    fix: 'correct every listed option or env var and start again'
  },
  SDK_MISSING: {
    title: 'The cloud SDK for a configured provider is not installed',
    fix: 'install the package named in the message (npm i …)'
  },
  NO_CREDENTIALS: {
    title: 'No credential source of the provider produced credentials',
    fix: `attach an identity to the workload, or log in locally (${LOGINS})`
  },
  TOKEN: {
    title: 'Credentials were found but a token could not be obtained or was rejected',
    fix: 'refresh the login or fix the identity named in the message'
  },
  ACCESS_DENIED: {
    title: 'The principal is not allowed to read a secret',
    fix: 'grant the permission or role named in the message to the principal named in the message'
  },
  NOT_FOUND: {
    title: 'A secret, version or JSON key does not exist',
    fix: 'create the secret, fix the reference, or mark it ?optional'
  },
  THROTTLED: {
    title: 'The secret store kept throttling until the startup deadline',
    fix: 'lower the request rate (fewer instances booting at once) or raise CLOUD_SECRETS_TIMEOUT_MS'
  },
  UNAVAILABLE: {
    title: 'The secret store or identity endpoint kept failing (5xx or network) until the deadline',
    fix: 'check network access to the endpoint named in the message and the cloud status page'
  },
  REJECTED: {
    title: 'The store or identity endpoint rejected a request as invalid (a 4xx that retrying cannot fix)',
    fix: 'correct the reference, region or request named in the message'
  },
  INTEGRITY: {
    title: 'A secret payload failed its integrity check (e.g. a CRC32C checksum mismatch)',
    fix: 'retry; if it persists, re-create the secret version'
  },
  TIMEOUT: {
    title: 'Startup did not finish within its deadline',
    fix: 'check the pending steps named in the message, or raise CLOUD_SECRETS_TIMEOUT_MS (and Fastify pluginTimeout)'
  },
  ABORTED: {
    title: 'The app aborted the startup through the `signal` option (e.g. on SIGTERM); what was opened is closed',
    fix: 'nothing to fix when the abort was intended; otherwise find what aborted the signal passed as options.signal'
  },
  CHECK_FAILED: {
    title: 'A startup check (checks.custom or checks.scopes) failed',
    fix: 'fix the access the named check verifies'
  },
  LOAD_FAILED: {
    title: 'One or more secrets or checks failed; every failure of this startup is listed',
    fix: 'apply the fix listed under each failure'
  }
} as const

export type ErrorKind = keyof typeof ERROR_CATALOG
export type ErrorCode = `FST_CLOUD_SECRETS_${ErrorKind}`

export interface ConfigProblem {
  /** where the problem is: an option path or env var name */
  source: string
  /** the alias concerned, when the problem is in a secret reference */
  alias?: string
  /** 1-based character position inside `source`'s value, when it applies */
  position?: number
  message: string
}

export interface CredentialAttempt {
  source: string
  outcome: 'ok' | 'skipped' | 'failed'
  reason: string
}

export interface ErrorDetails {
  provider?: ProviderName
  alias?: string
  /** the secret's id or native name (never its value) */
  secret?: string
  principal?: string
  /** the IAM permission or role that is missing */
  permission?: string
  /** what to do next; ends the message */
  fix?: string
  /** transient: the loader may retry it inside the deadline */
  retryable?: boolean
  /** server-requested delay (Retry-After), in ms */
  retryAfterMs?: number
  problems?: ConfigProblem[]
  errors?: CloudSecretsError[]
  pending?: string[]
  attempts?: CredentialAttempt[]
  check?: string
  cause?: unknown
}

/** shared by every installed copy of this package, so `instanceof` holds across copies (as @fastify/error does) */
const kBrand = Symbol.for('fastify-cloud-secrets.error')

export class CloudSecretsError extends Error {
  static override [Symbol.hasInstance] (value: unknown): boolean {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[kBrand] === true
  }

  readonly code: ErrorCode
  readonly kind: ErrorKind
  readonly statusCode = 500
  declare readonly provider?: ProviderName
  declare readonly alias?: string
  declare readonly secret?: string
  declare readonly principal?: string
  declare readonly permission?: string
  readonly fix: string
  readonly retryable: boolean
  declare readonly retryAfterMs?: number
  declare readonly problems?: ConfigProblem[]
  declare readonly errors?: CloudSecretsError[]
  declare readonly pending?: string[]
  declare readonly attempts?: CredentialAttempt[]
  declare readonly check?: string
  /** the message without the fix, for aggregated reports */
  readonly summary: string

  constructor (kind: ErrorKind, summary: string, details: ErrorDetails = {}) {
    const fix = details.fix ?? ERROR_CATALOG[kind].fix
    super(`${summary}\nFix: ${fix}`, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = 'CloudSecretsError'
    Object.defineProperty(this, kBrand, { value: true })
    this.kind = kind
    this.code = `FST_CLOUD_SECRETS_${kind}`
    this.summary = summary
    this.fix = fix
    this.retryable = details.retryable ?? false
    for (const key of ['provider', 'alias', 'secret', 'principal', 'permission', 'retryAfterMs', 'problems', 'errors', 'pending', 'attempts', 'check'] as const) {
      if (details[key] !== undefined) (this as Record<string, unknown>)[key] = details[key]
    }
  }

  /** the same error, attributed to a secret alias (errors are shared across batch members) */
  forAlias (alias: string, secret?: string): CloudSecretsError {
    if (this.alias === alias) return this
    return new CloudSecretsError(this.kind, this.summary, { ...this.details(), alias, secret: secret ?? this.secret })
  }

  details (): ErrorDetails {
    return {
      provider: this.provider,
      alias: this.alias,
      secret: this.secret,
      principal: this.principal,
      permission: this.permission,
      fix: this.fix,
      retryable: this.retryable,
      retryAfterMs: this.retryAfterMs,
      problems: this.problems,
      errors: this.errors,
      pending: this.pending,
      attempts: this.attempts,
      check: this.check,
      cause: this.cause
    }
  }

  /** what JSON (and so pino's err serializer output) carries: no cause, which may be an SDK object */
  toJSON (): Record<string, unknown> {
    const { cause, retryable, retryAfterMs, errors, ...fields } = this.details()
    return { code: this.code, message: this.message, ...fields, errors: errors?.map((e) => e.toJSON()) }
  }
}

export function isCloudSecretsError (err: unknown): err is CloudSecretsError {
  return err instanceof CloudSecretsError
}

/**
 * Config text is echoed into messages that end up in terminals and log viewers: control
 * characters (ANSI escapes, CR), line separators and bidi overrides are shown escaped, so a
 * hostile env var can neither forge log lines nor hide text.
 */
export function printable (text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

function formatProblem (p: ConfigProblem): string {
  const where = [p.source, p.alias !== undefined ? `alias "${p.alias}"` : undefined, p.position !== undefined ? `position ${p.position}` : undefined]
    .filter(Boolean).join(', ')
  return printable(`  - ${where}: ${p.message}`)
}

/** a config of thousands of bad entries lists this many in the message; `problems` keeps all */
const LISTED_PROBLEMS = 100

export function configError (problems: ConfigProblem[]): CloudSecretsError {
  const n = problems.length
  const listed = problems.slice(0, LISTED_PROBLEMS).map(formatProblem)
  if (n > LISTED_PROBLEMS) listed.push(`  … and ${n - LISTED_PROBLEMS} more (err.problems lists all ${n})`)
  return new CloudSecretsError('CONFIG', `Invalid fastify-cloud-secrets configuration (${n} problem${n === 1 ? '' : 's'}):\n${listed.join('\n')}`, {
    problems,
    fix: 'correct the options or env vars listed above; no network call was made'
  })
}

/**
 * A cloud's SDK package is not installed. `missing` names only the packages that really are
 * missing (never one the user already has), and the fix installs exactly those.
 */
export function sdkMissingError (provider: ProviderName, missing: readonly string[], cause?: unknown): CloudSecretsError {
  const list = missing.join(' ')
  const broken = cause instanceof Error && /dependency tree/.test(cause.message)
  const summary = broken
    ? `Provider "${provider}" found ${list}, but its installation is incomplete: ${cause.message}`
    : `Provider "${provider}" needs ${missing.length === 1 ? 'the package' : 'the packages'} ${missing.join(', ')}, which ${missing.length === 1 ? 'is' : 'are'} not installed`
  return new CloudSecretsError('SDK_MISSING', summary, {
    provider,
    cause,
    fix: broken ? `reinstall it: run \`npm i ${list}\` (pnpm: \`pnpm add ${list}\`, Yarn: \`yarn add ${list}\`)` : `run \`npm i ${list}\` (pnpm: \`pnpm add ${list}\`, Yarn: \`yarn add ${list}\`)`
  })
}

export function timeoutError (timeoutMs: number, pending: string[], failures: CloudSecretsError[] = [], what = 'fastify-cloud-secrets startup'): CloudSecretsError {
  const list = pending.length > 0 ? pending.join(', ') : 'nothing (the deadline fired between steps)'
  let summary = `${what} did not finish within ${timeoutMs} ms; still pending: ${list}`
  if (failures.length > 0) summary += `\nAlready failed:\n${failures.map(formatFailure).join('\n')}`
  return new CloudSecretsError('TIMEOUT', summary, {
    pending,
    errors: failures.length > 0 ? failures : undefined,
    fix: 'the pending steps above did not answer: check that the endpoint is reachable from this host (a hung metadata/identity endpoint or firewall drop looks like this), or raise CLOUD_SECRETS_TIMEOUT_MS together with Fastify pluginTimeout'
  })
}

/** The startup ended for every step at once: its deadline fired (TIMEOUT) or the app aborted it (ABORTED). */
export function isDeadlineError (err: unknown): err is CloudSecretsError {
  return err instanceof CloudSecretsError && (err.kind === 'TIMEOUT' || err.kind === 'ABORTED')
}

export function abortedError (pending: string[], reason: unknown): CloudSecretsError {
  const list = pending.length > 0 ? pending.join(', ') : 'nothing (aborted between steps)'
  const why = reason instanceof Error ? `: ${reason.message}` : typeof reason === 'string' ? `: ${reason}` : ''
  return new CloudSecretsError('ABORTED', `fastify-cloud-secrets startup was aborted by options.signal${why}; still pending: ${list}`, {
    pending,
    fix: 'nothing to fix when the abort was intended (e.g. SIGTERM during boot); otherwise find what aborted the signal passed as options.signal'
  })
}

function formatFailure (e: CloudSecretsError): string {
  const head = e.alias !== undefined ? `${e.alias}` : e.check !== undefined ? `check "${e.check}"` : (e.provider ?? 'startup')
  const provider = e.provider !== undefined && e.alias !== undefined ? ` (${e.provider})` : ''
  const body = e.kind === 'LOAD_FAILED' ? e.summary : `${e.summary}\n      fix: ${e.fix.split('\n').join('\n      ')}`
  return `  - ${head}${provider} ${e.code}: ${body}`
}

export function loadFailedError (failures: CloudSecretsError[]): CloudSecretsError {
  const n = failures.length
  return new CloudSecretsError('LOAD_FAILED', `fastify-cloud-secrets could not start: ${n} failure${n === 1 ? '' : 's'}:\n${failures.map(formatFailure).join('\n')}`, {
    errors: failures,
    fix: 'apply the fix listed under each failure above, then start again'
  })
}

export function alreadyRegisteredError (): CloudSecretsError {
  return new CloudSecretsError('ALREADY_REGISTERED', 'fastify-cloud-secrets is already registered on this Fastify instance (app.secrets / app.cloud exist); the second registration was refused before any network call')
}
