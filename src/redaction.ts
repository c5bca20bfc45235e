import { inspect } from 'node:util'
import type { CloudContext, Identity, ProviderName, SecretsRecord } from './types.js'

export const REDACTED = '[redacted]'

/**
 * Shared by every `app.secrets`: what JSON.stringify, util.inspect (so console and pino's nested
 * objects) and string coercion see. `this` is the secrets object.
 */
const secretsPrototype: object = Object.freeze(Object.create(null, {
  toJSON: {
    value: function toJSON (this: Record<string, unknown>): Record<string, string> {
      const view: Record<string, string> = {}
      for (const alias of Object.keys(this)) if (this[alias] !== undefined) view[alias] = REDACTED
      return view
    }
  },
  [inspect.custom]: {
    value: function inspectSecrets (this: Record<string, unknown>): string {
      return `CloudSecrets { ${Object.keys(this).map((a) => `${a}: ${this[a] === undefined ? 'undefined' : REDACTED}`).join(', ')} }`
    }
  },
  [Symbol.toPrimitive]: { value: () => '[CloudSecrets]' }
}) as object)

/**
 * `app.secrets`: a frozen object whose own enumerable, read-only properties are the aliases.
 * JSON.stringify, util.inspect (so console, util.format and pino's nested objects) show
 * `[redacted]`. Code that walks the keys itself reads the values: that includes pino's
 * top-level merging object (`log.info(app.secrets)` ignores toJSON), a spread, Object.entries.
 */
export function createSecretsObject (values: ReadonlyMap<string, string | undefined>): SecretsRecord {
  const secrets = Object.create(secretsPrototype) as Record<string, unknown>
  for (const [alias, value] of values) {
    Object.defineProperty(secrets, alias, { value, enumerable: true, writable: false, configurable: false })
  }
  return Object.freeze(secrets) as unknown as SecretsRecord
}

/** `app.cloud`: identity report plus each provider's handles; serializes to the identity only. */
export function createCloudContext (identity: Identity, identities: Partial<Record<ProviderName, Identity>>, clients: Partial<Record<ProviderName, object>>, refresh?: object): CloudContext {
  const identityCopies = Object.fromEntries(Object.entries(identities).map(([name, id]) => [name, frozenIdentity(id)]))
  const cloud: Record<string | symbol, unknown> = { identity: frozenIdentity(identity), identities: Object.freeze(identityCopies) }
  for (const [name, handles] of Object.entries(clients)) cloud[name] = handles
  if (refresh !== undefined) cloud.refresh = refresh
  const report = (): Record<string, unknown> => ({ identity: cloud.identity, identities: cloud.identities })
  Object.defineProperty(cloud, 'toJSON', { value: report, enumerable: false })
  Object.defineProperty(cloud, inspect.custom, { value: (_depth: number, opts: object) => `CloudContext ${inspect(report(), { ...opts, depth: 3 })}`, enumerable: false })
  return Object.freeze(cloud) as unknown as CloudContext
}

/** a copy no app code can edit, down to `details` (the report is what logs and checks trust) */
function frozenIdentity (identity: Identity): Identity {
  const copy = { ...identity }
  if (identity.details !== undefined) copy.details = Object.freeze({ ...identity.details })
  return Object.freeze(copy)
}
