import { inspect } from 'node:util'
import type { CloudContext, Identity, ProviderName, SecretsRecord } from './types.js'

export const REDACTED = '[redacted]'

function redactedView (values: ReadonlyMap<string, string | undefined>): Record<string, string> {
  const view: Record<string, string> = {}
  for (const [alias, value] of values) if (value !== undefined) view[alias] = REDACTED
  return view
}

/**
 * `app.secrets`: a frozen null-prototype object whose own enumerable properties are the
 * aliases. JSON.stringify, util.inspect (and so pino and console) see `[redacted]`.
 */
export function createSecretsObject (values: ReadonlyMap<string, string | undefined>): SecretsRecord {
  const secrets = Object.create(null) as Record<string | symbol, unknown>
  for (const [alias, value] of values) {
    Object.defineProperty(secrets, alias, { value, enumerable: true, writable: false, configurable: false })
  }
  const view = redactedView(values)
  const aliases = [...values.keys()]
  Object.defineProperty(secrets, 'toJSON', { value: () => ({ ...view }), enumerable: false })
  Object.defineProperty(secrets, inspect.custom, {
    value: () => `CloudSecrets { ${aliases.map((a) => `${a}: ${values.get(a) === undefined ? 'undefined' : REDACTED}`).join(', ')} }`,
    enumerable: false
  })
  Object.defineProperty(secrets, Symbol.toPrimitive, { value: () => '[CloudSecrets]', enumerable: false })
  return Object.freeze(secrets) as unknown as SecretsRecord
}

/** `app.cloud`: identity report plus each provider's handles; serializes to the identity only. */
export function createCloudContext (identity: Identity, identities: Partial<Record<ProviderName, Identity>>, clients: Partial<Record<ProviderName, object>>): CloudContext {
  const cloud: Record<string | symbol, unknown> = { identity: Object.freeze({ ...identity }), identities: Object.freeze({ ...identities }) }
  for (const [name, handles] of Object.entries(clients)) cloud[name] = handles
  const report = (): Record<string, unknown> => ({ identity: cloud.identity, identities: cloud.identities })
  Object.defineProperty(cloud, 'toJSON', { value: report, enumerable: false })
  Object.defineProperty(cloud, inspect.custom, { value: (_depth: number, opts: object) => `CloudContext ${inspect(report(), { ...opts, depth: 3 })}`, enumerable: false })
  return Object.freeze(cloud) as unknown as CloudContext
}
