import { nonEmpty } from '../../shared/env.js'
import { clip, isPlainObject } from '../../shared/input.js'
import type { ProviderDescriptor } from '../descriptor.js'

/** options.local */
export interface LocalOptions {
  /** a JSON or .env file of values (env CLOUD_SECRETS_LOCAL_FILE) */
  file?: string
  /** name → value; wins over the file */
  values?: Record<string, string>
}

export interface LocalSettings {
  readonly file?: string
  readonly values?: Readonly<Record<string, string>>
}

/** Provider local: values from a file or the options, for development and tests (no network). */
export const localDescriptor: ProviderDescriptor<'local', LocalSettings> = {
  name: 'local',
  section: 'local',
  envVars: ['CLOUD_SECRETS_LOCAL_FILE'],
  platformMarkers: [],
  chosenWithoutPlatform: (section, env) => section.values !== undefined || nonEmpty(section.file) || nonEmpty(env.CLOUD_SECRETS_LOCAL_FILE) ? 'local values are configured' : undefined,
  readSettings ({ section, env, add, text }) {
    const option = text('file')
    const file = option ?? (nonEmpty(env.CLOUD_SECRETS_LOCAL_FILE) ? env.CLOUD_SECRETS_LOCAL_FILE.trim() : undefined)
    const values: unknown = section.values
    if (values === undefined) return { file }
    if (!isPlainObject(values)) {
      add('options.local.values', 'must be an object of name → string value')
      return { file }
    }
    for (const name of Object.keys(values)) {
      if (typeof values[name] !== 'string') add(`options.local.values.${clip(name)}`, 'must be a string')
    }
    return { file, values: Object.freeze({ ...values as Record<string, string> }) }
  },
  ids: {
    resolve ({ id, version }, problem) {
      if (version !== undefined) problem('local references have no versions')
      if (id.length > 512) problem('a local secret name has at most 512 characters')
      return { id, version }
    }
  },
  scopes: false,
  packages: []
}
