import type { DoctorReport, ErrorReport, PolicyReport, ProviderReport, RefreshReport, SecretLine } from './diagnose.js'
import { describeFleetCost } from '../refresh/cost.js'
import { formatDuration } from '../refresh/interval.js'

/** Text output of `doctor` and `policy`. Colour only when asked (a TTY without NO_COLOR). */

export interface Style {
  ok: (s: string) => string
  bad: (s: string) => string
  warn: (s: string) => string
  dim: (s: string) => string
  bold: (s: string) => string
}

const ansi = (open: number, close: number) => (s: string): string => `\u001b[${open}m${s}\u001b[${close}m`
export const COLOUR: Style = { ok: ansi(32, 39), bad: ansi(31, 39), warn: ansi(33, 39), dim: ansi(2, 22), bold: ansi(1, 22) }
export const PLAIN: Style = { ok: (s) => s, bad: (s) => s, warn: (s) => s, dim: (s) => s, bold: (s) => s }

function indent (text: string, prefix: string): string {
  return text.split('\n').map((line) => line.length > 0 ? prefix + line : line).join('\n')
}

function pad (s: string, width: number): string {
  return s + ' '.repeat(Math.max(0, width - s.length))
}

function expiry (iso: string | undefined, now = Date.now()): string {
  if (iso === undefined) return 'not reported by this credential source'
  const ms = Date.parse(iso) - now
  if (Number.isNaN(ms)) return iso
  const minutes = Math.round(Math.abs(ms) / 60_000)
  const span = minutes >= 120 ? `${Math.round(minutes / 60)} h` : `${minutes} min`
  return ms >= 0 ? `${iso} (in ${span})` : `${iso} (EXPIRED ${span} ago)`
}

/** A classified failure: code, what it means, the summary, and the exact fix (as the startup error says it). */
export function renderError (e: ErrorReport, style: Style, prefix = '    ', sameFixAs?: string): string {
  const lines = [`${style.bad(e.code ?? 'error')}${e.title !== undefined ? style.dim(` — ${e.title}`) : ''}`, e.summary]
  // one grant often fixes several secrets: print a long fix once, then point at it
  if (e.fix !== undefined) lines.push(`${style.bold('fix:')} ${sameFixAs !== undefined ? `the same as for ${sameFixAs} above` : e.fix}`)
  return indent(lines.join('\n'), prefix)
}

function renderProvider (p: ProviderReport, style: Style): string {
  const out: string[] = [`${style.bold(`Identity (${p.name})`)}  ${p.status === 'ok' ? style.ok('ok') : style.bad('FAILED')}`]
  if (p.attempts.length > 0) {
    out.push('  credential sources tried, in order:')
    const width = Math.max(...p.attempts.map((a) => a.source.length))
    for (const a of p.attempts) {
      const mark = a.outcome === 'ok' ? style.ok('ok     ') : a.outcome === 'failed' ? style.bad('failed ') : style.dim('skipped')
      out.push(`    ${mark}  ${pad(a.source, width)}  ${a.reason}`)
    }
  } else if (p.name === 'local') {
    out.push('  credential sources tried: none (provider local needs no credentials)')
  } else {
    out.push('  credential sources tried: not reported by this provider')
  }
  if (p.identity !== undefined) {
    const id = p.identity
    const rows: Array<[string, string | undefined]> = [
      ['source', id.source],
      ['principal', id.principal ?? (id.provider === 'local' ? 'none (local)' : 'unknown')],
      ['platform', id.platform],
      ['account', id.account],
      ['project', id.project],
      ['tenant', id.tenant],
      ['region', id.region],
      ['expires', id.provider === 'local' ? 'never (local)' : expiry(id.expiresAt)]
    ]
    for (const [key, value] of Object.entries(id.details ?? {})) if (value !== undefined) rows.push([key, String(value)])
    const shown = rows.filter((row): row is [string, string] => row[1] !== undefined)
    const width = Math.max(10, ...shown.map(([key]) => key.length))
    for (const [key, value] of shown) out.push(`  ${style.dim(pad(key, width))} ${value}`)
  }
  if (p.error !== undefined) out.push(renderError(p.error, style, '  '))
  return out.join('\n')
}

function renderSecret (s: SecretLine, width: number, style: Style, fixes: Map<string, string>): string {
  const name = pad(s.alias, width)
  const where = s.provider === 'local' ? s.secret : `${s.provider}:${s.secret}`
  switch (s.status) {
    case 'ok': {
      const facts = [`store ${s.store ?? '?'}`, `version ${s.version ?? '-'}`, `${s.bytes ?? 0} bytes`, `${s.ms ?? 0} ms`]
      return `  ${style.ok('ok     ')}  ${name}  ${facts.join(', ')}  ${style.dim(where)}`
    }
    case 'absent':
      return `  ${style.warn('absent ')}  ${name}  optional and absent: app.secrets.${s.alias} would be undefined  ${style.dim(where)}`
    case 'skipped':
      return `  ${style.warn('skipped')}  ${name}  ${s.reason ?? ''}  ${style.dim(where)}`
    default: {
      const head = `  ${style.bad('FAILED ')}  ${name}  ${style.dim(where)}`
      if (s.error?.kind === 'TIMEOUT') return `${head}\n           ${style.bad(s.error.code ?? '')}: still pending when the deadline fired (see Deadline below)`
      if (s.error === undefined) return head
      const fix = s.error.fix ?? ''
      const sameAs = fix.includes('\n') ? fixes.get(fix) : undefined
      if (sameAs === undefined) fixes.set(fix, s.alias)
      return `${head}\n${renderError(s.error, style, '           ', sameAs)}`
    }
  }
}

export function renderDoctor (r: DoctorReport, style: Style): string {
  const out: string[] = [style.bold('fastify-cloud-secrets doctor'), '']
  out.push(`  ${style.dim(pad('platform', 10))} ${r.platform}`)
  if (r.configError !== undefined) {
    out.push('', style.bold('Configuration  ') + style.bad('INVALID'), renderError(r.configError, style, '  '))
    out.push('', style.bad('Result: the configuration is invalid; nothing was contacted.') + ` (exit ${r.exitCode})`)
    return out.join('\n') + '\n'
  }
  out.push(`  ${style.dim(pad('provider', 10))} ${r.provider ?? 'none (every reference names its cloud)'}${r.providerChosenBy !== undefined ? style.dim(`  chosen by ${r.providerChosenBy}`) : ''}`)
  out.push(`  ${style.dim(pad('deadline', 10))} ${r.timeoutMs ?? '?'} ms (CLOUD_SECRETS_TIMEOUT_MS)`)
  for (const p of r.providers) out.push('', renderProvider(p, style))
  if (r.checks.length > 0) {
    out.push('', style.bold(`Checks (${r.checks.length})`))
    for (const c of r.checks) {
      const mark = c.status === 'ok' ? style.ok('ok     ') : c.status === 'failed' ? style.bad('FAILED ') : style.warn('skipped')
      out.push(`  ${mark}  ${c.name}`)
      if (c.error !== undefined) out.push(renderError(c.error, style, '           '))
    }
  }
  out.push('', style.bold(`Secrets (${r.secrets.length})`))
  if (r.secrets.length === 0) out.push('  none configured (CLOUD_SECRETS is empty): identity only')
  const width = Math.max(0, ...r.secrets.map((s) => s.alias.length))
  const fixes = new Map<string, string>()
  for (const s of r.secrets) out.push(renderSecret(s, width, style, fixes))
  if (r.timeout !== undefined) out.push('', style.bold('Deadline'), renderError(r.timeout, style, '  '))
  if (r.refresh !== undefined) out.push('', style.bold('Refresh'), ...renderRefresh(r.refresh))
  if (r.warnings.length > 0) {
    out.push('', style.bold('Warnings'))
    for (const w of r.warnings) out.push(`  ${style.warn('warn')}  ${w}`)
  }
  out.push('', result(r, style))
  return out.join('\n') + '\n'
}

function result (r: DoctorReport, style: Style): string {
  const loaded = r.secrets.filter((s) => s.status === 'ok').length
  const absent = r.secrets.filter((s) => s.status === 'absent').length
  const failed = r.secrets.length - loaded - absent
  const counts = `${loaded} loaded, ${absent} optional absent, ${failed} failed or not loaded`
  if (r.ok) return style.ok(`Result: the app would start. Secrets: ${counts}.`) + ` (exit 0, ${r.ms} ms)`
  const reasons: string[] = []
  const badProviders = r.providers.filter((p) => p.status === 'failed').map((p) => p.name)
  if (badProviders.length > 0) reasons.push(`no identity for ${badProviders.join(', ')}`)
  if (r.checks.some((c) => c.status === 'failed')) reasons.push('a startup check failed')
  if (r.timeout !== undefined) reasons.push('the deadline fired')
  return style.bad(`Result: the app would NOT start${reasons.length > 0 ? ` (${reasons.join('; ')})` : ''}. Secrets: ${counts}.`) + ` (exit ${r.exitCode}, ${r.ms} ms)`
}

export function renderPolicy (r: PolicyReport, style: Style): string {
  const out: string[] = [style.bold('fastify-cloud-secrets policy'), '']
  if (r.configError !== undefined) {
    out.push(style.bold('Configuration  ') + style.bad('INVALID'), renderError(r.configError, style, '  '), '')
    return out.join('\n')
  }
  for (const p of r.providers) {
    const who = p.principal !== undefined ? ` for ${p.principal}${p.principalFrom !== undefined ? style.dim(` (from ${p.principalFrom})`) : ''}` : ''
    out.push(style.bold(`${p.name}${who}`))
    out.push(`  secrets: ${p.aliases.length > 0 ? p.aliases.join(', ') : 'none'}`)
    if (p.error !== undefined) {
      out.push(renderError(p.error, style, '  '))
      out.push(`  ${style.dim('(to print the grant without looking the identity up, pass --principal <id>)')}`)
    }
    if (p.note !== undefined) out.push(`  ${p.note}`)
    for (const d of p.documents) {
      out.push('', style.dim(`# ${d.title} (${d.format})`), d.text.replace(/\n$/, ''))
    }
    out.push('')
  }
  return out.join('\n')
}

function renderRefresh (r: RefreshReport): string[] {
  if (!r.enabled || r.intervalMs === undefined) return ['  off: secrets are loaded once (set CLOUD_SECRETS_REFRESH_MS, e.g. 15m, to re-read them in the background)']
  const lines = [`  every ${formatDuration(r.intervalMs)} ± ${Math.round((r.jitter ?? 0) * 100)} % (${r.source ?? 'options'}), stale after ${formatDuration(r.staleAfterMs ?? 3 * r.intervalMs)}`]
  lines.push(`  polled: ${r.polled.length > 0 ? r.polled.join(', ') : 'none'}${r.notPolled.length > 0 ? `; never re-read: ${r.notPolled.join(', ')}` : ''}`)
  for (const c of r.costs) lines.push(`  ${describeFleetCost(c)}`)
  return lines
}
