import { readFile } from 'node:fs/promises'
import { extname } from 'node:path'
import { parseEnv } from 'node:util'
import { CloudSecretsError, configError } from '../../errors.js'
import type { Identity } from '../../types.js'
import type { CreateProvider, Provider, ProviderInit, SecretOutcome } from '../types.js'

export interface LocalClients {
  /** the values file in use, if any */
  readonly file?: string
}

declare module '../../types.js' {
  interface CloudProviders {
    local: LocalClients
  }
}

/**
 * Provider `local`: values from CLOUD_SECRETS_LOCAL_FILE (JSON or .env) and/or
 * options.local.values. Same loader, errors and redaction as the clouds; no network.
 */
export const createProvider: CreateProvider = async (init: ProviderInit): Promise<Provider> => {
  const { config, identityOverride } = init
  const file = config.local.file
  let values = new Map<string, string>()

  const where = file !== undefined ? `CLOUD_SECRETS_LOCAL_FILE (${file})` : 'options.local.values'
  return {
    name: 'local',
    async resolveIdentity (): Promise<Identity> {
      values = new Map([...(file !== undefined ? await readValuesFile(file) : []), ...Object.entries(config.local.values ?? {})])
      return { provider: 'local', platform: 'local', source: 'local', ...identityOverride }
    },
    async loadSecrets (refs) {
      const outcomes = new Map<string, SecretOutcome>()
      for (const ref of refs) {
        const value = values.get(ref.id)
        outcomes.set(ref.alias, value !== undefined
          ? { ok: true, value, store: 'local', ms: 0 }
          : {
              ok: false,
              error: new CloudSecretsError('NOT_FOUND', `local secret "${ref.id}" is not defined in ${where}`, {
                provider: 'local',
                secret: ref.id,
                fix: `add ${ref.id} to ${where}, or mark the reference ?optional`
              })
            })
      }
      return outcomes
    },
    clients: () => Object.freeze({ file }),
    async close () {}
  }
}

async function readValuesFile (file: string): Promise<Array<[string, string]>> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw configError([{ source: 'CLOUD_SECRETS_LOCAL_FILE', message: `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})` }])
  }
  const json = extname(file).toLowerCase() === '.json' || (extname(file) === '' && text.trimStart().startsWith('{'))
  if (!json) return Object.entries(parseEnv(text)) as Array<[string, string]>
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    // V8's parse message quotes the file's text, i.e. secret values: say only that it failed
    throw configError([{ source: 'CLOUD_SECRETS_LOCAL_FILE', message: `${file} is not valid JSON` }])
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw configError([{ source: 'CLOUD_SECRETS_LOCAL_FILE', message: `${file} must hold a JSON object of name → value` }])
  }
  // nested objects stay JSON text, so `name#a.b` works as it does against a cloud store
  return Object.entries(parsed).map(([name, value]) => [name, typeof value === 'string' ? value : JSON.stringify(value)])
}
