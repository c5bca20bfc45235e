import type { ConfigProblem } from './errors.js'
import { PROVIDER_NAMES, type ProviderName } from './types.js'

/** One configured secret, resolved to its provider. Holds no value. */
export interface SecretReference {
  readonly alias: string
  readonly provider: ProviderName
  /** the id as the store knows it: name, ARN, resource name or Key Vault secret URL */
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

export interface ParsedReference {
  /** explicit scheme, or the one implied by a native id (ARN, projects/…, https://…) */
  provider?: ProviderName
  id: string
  version?: string
  stage?: string
  optional: boolean
  refresh?: 'off'
  key?: string[]
  raw: string
  /** 1-based position of the id inside the source value, for later problems */
  idPosition: number
}

export const RESERVED_ALIASES = new Set(['__proto__', 'prototype', 'constructor', 'toJSON', 'then'])
const ALIAS = /^[A-Za-z_$][A-Za-z0-9_$-]{0,127}$/

/** how much of an invalid alias a problem repeats (a pasted blob must not become a megabyte error) */
const ALIAS_ECHO = 64

export function aliasProblem (alias: string, source: string, position?: number): ConfigProblem | undefined {
  if (!ALIAS.test(alias)) {
    const shown = alias.length > ALIAS_ECHO ? `${alias.slice(0, ALIAS_ECHO)}…` : alias
    return { source, alias: shown, position, message: 'an alias must start with a letter, _ or $ and contain only letters, digits, _, $ or - (at most 128 characters)' }
  }
  if (RESERVED_ALIASES.has(alias)) {
    return { source, alias, position, message: `"${alias}" is reserved and cannot be an alias; choose another name` }
  }
  return undefined
}

/** The parameters a reference takes (`?version=…`, `?stage=…`, `?optional`). */
export const REFERENCE_PARAMETERS = ['version', 'stage', 'optional', 'refresh'] as const

/**
 * Where the parameters start inside a JSON key path (`#key?optional`): the first `?` that is
 * followed by a known parameter name (`name`, `name=…` or `name&…`), else -1 (a plain key).
 */
function trailingParameters (keyText: string): number {
  for (let i = keyText.indexOf('?'); i !== -1; i = keyText.indexOf('?', i + 1)) {
    const first = /^[^=&]*/.exec(keyText.slice(i + 1))?.[0] ?? ''
    if ((REFERENCE_PARAMETERS as readonly string[]).includes(first)) return i
  }
  return -1
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//
const PARAM_VALUE = /^[A-Za-z0-9_.:+@/-]{1,256}$/

/**
 * Parses `[scheme "://"] id ["?" param ("&" param)*] ["#" key]`; the parameters may also follow
 * the key (`id#key?optional`) when the first one is a known parameter.
 * `offset` is the 0-based index of `text` inside the source value, so positions point into
 * what the user wrote (the whole CLOUD_SECRETS string, or the option's reference string).
 */
export function parseReference (alias: string, text: string, source: string, offset = 0): { ref?: ParsedReference, problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = []
  // a position always names a character the user wrote: past-the-end indexes (an empty id after
  // "aws://", a trailing "#" or "?") point at the last character instead
  const at = (index: number): number => offset + Math.max(0, Math.min(index, text.length - 1)) + 1
  const problem = (index: number, message: string): void => { problems.push({ source, alias, position: at(index), message }) }

  if (text.length === 0) {
    problem(0, 'the reference is empty')
    return { problems }
  }
  if (text.length > 2048) {
    problem(0, 'the reference is longer than 2048 characters')
    return { problems }
  }
  const control = text.search(/[\s\u0000-\u001f\u007f]/) // eslint-disable-line no-control-regex
  if (control !== -1) problem(control, 'a reference cannot contain white space or control characters')

  let rest = text
  let restStart = 0
  let provider: ProviderName | undefined

  const scheme = SCHEME.exec(text)
  if (scheme !== null) {
    const name = scheme[1].toLowerCase()
    if ((PROVIDER_NAMES as readonly string[]).includes(name)) {
      provider = name as ProviderName
      rest = text.slice(scheme[0].length)
      restStart = scheme[0].length
    } else if (name === 'https') {
      provider = 'azure'
    } else if (name === 'http') {
      problem(0, 'Key Vault secret URLs must use https://')
    } else {
      problem(0, `unknown scheme "${scheme[1]}://"; use aws://, gcp://, azure://, local:// or none`)
    }
  }

  // parameters: after the id (`name?optional#key`) or, when what follows a `?` in the key is a
  // known parameter, after the key (`name#key?optional`); both orders mean the same
  const paramParts: Array<{ text: string, start: number }> = []
  let key: string[] | undefined
  const hash = rest.indexOf('#')
  if (hash !== -1) {
    let keyText = rest.slice(hash + 1)
    const keyStart = restStart + hash + 1
    const trailing = trailingParameters(keyText)
    if (trailing !== -1) {
      paramParts.push({ text: keyText.slice(trailing + 1), start: keyStart + trailing + 1 })
      keyText = keyText.slice(0, trailing)
    }
    key = keyText.split('.')
    let pos = 0
    for (const segment of key) {
      if (segment.length === 0) {
        // point at the "#" or "." in front of the missing segment
        problem(keyStart + pos - 1, 'empty segment in the JSON key path (write #a.b.c)')
        break
      }
      pos += segment.length + 1
    }
    if (key.length > 32) problem(keyStart, 'the JSON key path is deeper than 32 segments')
    rest = rest.slice(0, hash)
  }

  let version: string | undefined
  let stage: string | undefined
  let optional = false
  let refresh: 'off' | undefined
  const question = rest.indexOf('?')
  if (question !== -1) {
    paramParts.unshift({ text: rest.slice(question + 1), start: restStart + question + 1 })
    rest = rest.slice(0, question)
  }
  const seen = new Set<string>()
  for (const part of paramParts) {
    let pos = part.start
    for (const param of part.text.split('&')) {
      const eq = param.indexOf('=')
      const name = eq === -1 ? param : param.slice(0, eq)
      const value = eq === -1 ? undefined : param.slice(eq + 1)
      if (seen.has(name)) {
        problem(pos, `parameter "${name}" is given twice`)
      } else if (name === 'optional') {
        if (value === undefined || value === 'true') optional = true
        else if (value !== 'false') problem(pos, 'optional takes no value (or =true / =false)')
      } else if (name === 'refresh') {
        if (value === 'off') refresh = 'off'
        else if (value !== 'on') problem(pos, 'refresh takes =off (never re-read this secret) or =on')
      } else if (name === 'version' || name === 'stage') {
        if (value === undefined || !PARAM_VALUE.test(value)) {
          problem(pos, `${name} needs a value made of letters, digits and _.:+@/- (e.g. ${name}=${name === 'version' ? '3' : 'AWSPREVIOUS'})`)
        } else if (name === 'version') {
          version = value
        } else {
          stage = value
        }
      } else if (name.length === 0) {
        problem(pos - 1, 'empty parameter (check for a stray ? or &)')
      } else {
        problem(pos, `unknown parameter "${name}"; allowed: ${REFERENCE_PARAMETERS.map((n) => n === 'optional' ? n : n === 'refresh' ? 'refresh=off' : `${n}=`).join(', ')}`)
      }
      seen.add(name)
      pos += param.length + 1
    }
  }
  if (version !== undefined && stage !== undefined) {
    problem(restStart, 'use either version= or stage=, not both')
  }

  if (rest.length === 0) {
    problem(restStart, 'the secret id is empty')
  } else if (provider === undefined) {
    if (rest.startsWith('arn:')) provider = 'aws'
    else if (rest.startsWith('projects/')) provider = 'gcp'
  }

  if (problems.length > 0) return { problems }
  return {
    ref: { provider, id: rest, version, stage, optional, ...(refresh !== undefined ? { refresh } : {}), key, raw: text, idPosition: at(restStart) },
    problems
  }
}

const AWS_ARN = /^arn:aws(?:-[a-z-]+)?:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]{1,512}$/
const AWS_NAME = /^[A-Za-z0-9/_+=.@!-]{1,512}$/
const GCP_NAME = /^projects\/([a-z0-9][a-z0-9-]{0,62}|\d+)\/(?:locations\/([a-z0-9-]{1,63})\/)?secrets\/([A-Za-z0-9_-]{1,255})(?:\/versions\/([A-Za-z0-9_-]{1,63}))?$/
const GCP_ID = /^[A-Za-z0-9_-]{1,255}$/
const GCP_VERSION = /^(?:latest|[1-9]\d*|[A-Za-z][A-Za-z0-9_-]{0,62})$/
const AZURE_NAME = /^[0-9A-Za-z-]{1,127}$/
const AZURE_VERSION = /^[0-9A-Za-z]{1,64}$/

/** Checks a parsed reference against the grammar of its provider and returns the final reference. */
export function resolveReference (alias: string, parsed: ParsedReference, provider: ProviderName, source: string): { ref?: SecretReference, problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = []
  const problem = (message: string): void => { problems.push({ source, alias, position: parsed.idPosition, message }) }
  let { id, version } = parsed

  if (parsed.stage !== undefined && provider !== 'aws') problem(`stage= is an AWS version stage; a ${provider} reference cannot use it`)

  switch (provider) {
    case 'aws':
      if (id.startsWith('arn:')) {
        if (!AWS_ARN.test(id)) problem('not a Secrets Manager ARN (arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME)')
      } else if (!AWS_NAME.test(id)) {
        problem('an AWS secret name has 1–512 characters: letters, digits and /_+=.@!-')
      }
      break
    case 'gcp': {
      if (id.startsWith('projects/')) {
        const m = GCP_NAME.exec(id)
        if (m === null) {
          problem('not a Secret Manager resource name (projects/P/secrets/S[/versions/V], or projects/P/locations/L/secrets/S[/versions/V])')
        } else if (m[4] !== undefined) {
          if (version !== undefined && version !== m[4]) problem(`the resource name pins version ${m[4]} and version=${version} disagrees`)
          version = m[4]
          id = id.slice(0, id.lastIndexOf('/versions/'))
        }
      } else if (!GCP_ID.test(id)) {
        problem('a GCP secret id has 1–255 characters: letters, digits, _ and -')
      }
      if (version !== undefined && !GCP_VERSION.test(version)) problem(`version "${version}" is not a version number, "latest" or an alias`)
      break
    }
    case 'azure':
      if (id.startsWith('https://') || id.startsWith('HTTPS://')) {
        let url: URL | undefined
        try { url = new URL(id) } catch { problem('not a valid Key Vault secret URL') }
        if (url !== undefined) {
          const parts = url.pathname.split('/').filter((p) => p.length > 0)
          if (url.hostname.length === 0 || url.port !== '' || url.search !== '' || url.username !== '' || url.password !== '') {
            problem('a Key Vault secret URL is https://VAULT-HOST/secrets/NAME[/VERSION] with no port, query or credentials')
          } else if (parts.length < 2 || parts.length > 3 || parts[0] !== 'secrets' || !AZURE_NAME.test(parts[1])) {
            problem('a Key Vault secret URL is https://VAULT-HOST/secrets/NAME[/VERSION]; NAME has 1–127 letters, digits and -')
          } else {
            if (parts[2] !== undefined) {
              if (version !== undefined && version !== parts[2]) problem(`the URL pins version ${parts[2]} and version=${version} disagrees`)
              version = parts[2]
            }
            id = `https://${url.hostname.toLowerCase()}/secrets/${parts[1]}`
          }
        }
      } else if (!AZURE_NAME.test(id)) {
        problem('a Key Vault secret name has 1–127 characters: letters, digits and -')
      }
      if (version !== undefined && !AZURE_VERSION.test(version)) problem(`version "${version}" is not a Key Vault version id`)
      break
    case 'local':
      if (version !== undefined) problem('local references have no versions')
      if (id.length > 512) problem('a local secret name has at most 512 characters')
      break
  }
  if (problems.length > 0) return { problems }
  return {
    ref: Object.freeze({
      alias,
      provider,
      id,
      version,
      stage: parsed.stage,
      optional: parsed.optional,
      ...(parsed.refresh !== undefined ? { refresh: parsed.refresh } : {}),
      key: parsed.key === undefined ? undefined : Object.freeze([...parsed.key]),
      raw: parsed.raw
    }),
    problems
  }
}

export interface SecretsEntry { alias: string, reference: string, aliasPosition: number, referenceOffset: number }

/** Splits the CLOUD_SECRETS env form: `alias=reference` pairs separated by commas or newlines. */
export function splitSecretsEnv (text: string, source = 'CLOUD_SECRETS'): { entries: SecretsEntry[], problems: ConfigProblem[] } {
  const entries: SecretsEntry[] = []
  const problems: ConfigProblem[] = []
  const re = /[^,\n\r]+/g
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const segment = m[0]
    const lead = segment.length - segment.trimStart().length
    const body = segment.trim()
    if (body.length === 0) continue
    const start = m.index + lead
    const eq = body.indexOf('=')
    if (eq === -1) {
      problems.push({ source, position: start + 1, message: `"${body.slice(0, 40)}" is not alias=reference` })
      continue
    }
    const alias = body.slice(0, eq).trimEnd()
    const afterEq = body.slice(eq + 1)
    const refLead = afterEq.length - afterEq.trimStart().length
    const reference = afterEq.trim()
    // an empty reference is reported at its "=" (there is no character of its own to point at)
    entries.push({ alias, reference, aliasPosition: start + 1, referenceOffset: reference.length === 0 ? start + eq : start + eq + 1 + refLead })
  }
  return { entries, problems }
}
