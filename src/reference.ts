import type { ConfigProblem } from './errors.js'
import { descriptorOf, DESCRIPTORS, PROVIDER_NAMES } from './providers/registry.js'
import type { ProviderName } from './provider-name.js'
import type { SecretReference } from './secret-reference.js'
export type { SecretReference } from './secret-reference.js'

export interface ParsedReference {
  /** explicit scheme, or the one implied by a native id (a store's native prefix or URL scheme) */
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

/** The stores that take stage= (a version label), for the problem of a reference that cannot. */
const STAGE_STORES = DESCRIPTORS.filter((d) => d.stage !== undefined)
const STAGE_EXAMPLE = STAGE_STORES[0]?.stage?.example ?? 'LABEL'

/**
 * Parses `[scheme "://"] id ["?" param ("&" param)*] ["#" key]`; the parameters may also follow
 * the key (`id#key?optional`) when the first one is a known parameter.
 * `offset` is the 0-based index of `text` inside the source value, so positions point into
 * what the user wrote (the whole CLOUD_SECRETS string, or the option's reference string).
 */
export function parseReference (alias: string, text: string, source: string, offset = 0): { ref?: ParsedReference, problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = []
  // a position always names a character the user wrote: past-the-end indexes (an empty id after
  // "scheme://", a trailing "#" or "?") point at the last character instead
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
    const native = DESCRIPTORS.find((d) => d.ids.nativeSchemes?.includes(name) === true)
    const refused = DESCRIPTORS.map((d) => d.ids.refusedSchemes?.[name]).find((hint) => hint !== undefined)
    if ((PROVIDER_NAMES as readonly string[]).includes(name)) {
      provider = name as ProviderName
      rest = text.slice(scheme[0].length)
      restStart = scheme[0].length
    } else if (native !== undefined) {
      // the whole reference is the store's native id (a secret URL)
      provider = native.name
    } else if (refused !== undefined) {
      problem(0, refused)
    } else {
      problem(0, `unknown scheme "${scheme[1]}://"; use ${PROVIDER_NAMES.map((n) => `${n}://`).join(', ')} or none`)
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
          problem(pos, `${name} needs a value made of letters, digits and _.:+@/- (e.g. ${name}=${name === 'version' ? '3' : STAGE_EXAMPLE})`)
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
    provider = DESCRIPTORS.find((d) => d.ids.nativePrefixes?.some((prefix) => rest.startsWith(prefix)) === true)?.name
  }

  if (problems.length > 0) return { problems }
  return {
    ref: { provider, id: rest, version, stage, optional, ...(refresh !== undefined ? { refresh } : {}), key, raw: text, idPosition: at(restStart) },
    problems
  }
}

/** Checks a parsed reference against the grammar of its provider and returns the final reference. */
export function resolveReference (alias: string, parsed: ParsedReference, provider: ProviderName, source: string): { ref?: SecretReference, problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = []
  const problem = (message: string): void => { problems.push({ source, alias, position: parsed.idPosition, message }) }
  const descriptor = descriptorOf(provider)

  if (parsed.stage !== undefined && descriptor.stage === undefined) problem(`stage= is ${STAGE_STORES.map((d) => d.stage?.what).join(' or ')}; a ${provider} reference cannot use it`)
  const { id, version } = descriptor.ids.resolve({ id: parsed.id, version: parsed.version }, problem)
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
