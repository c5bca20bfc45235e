import { inspect } from 'node:util'
import type { SecretsRecord } from './types.js'

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
