import { readFile, stat } from 'node:fs/promises'
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
  let loads = 0
  const readValues = async (): Promise<Map<string, string>> => new Map([...(file !== undefined ? await readValuesFile(file) : []), ...Object.entries(config.local.values ?? {})])

  const where = file !== undefined ? `CLOUD_SECRETS_LOCAL_FILE (${file})` : 'options.local.values'
  return {
    name: 'local',
    async resolveIdentity (): Promise<Identity> {
      values = await readValues()
      return { provider: 'local', platform: 'local', source: 'local', ...identityOverride }
    },
    async loadSecrets (refs) {
      // a refresh cycle reads the file again (startup uses what resolveIdentity just read)
      if (loads++ > 0 && file !== undefined) values = await readValues()
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

/** a values file is a handful of secrets; anything bigger is a wrong path (a log, a disk image) */
export const MAX_VALUES_FILE_BYTES = 4 * 1024 * 1024

async function readValuesFile (file: string): Promise<Array<[string, string]>> {
  const problem = (message: string): CloudSecretsError => configError([{ source: 'CLOUD_SECRETS_LOCAL_FILE', message }])
  let text: string
  try {
    // look at what the path is before reading: /dev/zero or a FIFO would never end
    const info = await stat(file)
    if (!info.isFile()) throw problem(`${file} is not a regular file`)
    if (info.size > MAX_VALUES_FILE_BYTES) throw problem(`${file} is larger than ${MAX_VALUES_FILE_BYTES} bytes; a values file holds a few secrets`)
    text = await readFile(file, 'utf8')
  } catch (err) {
    if (err instanceof CloudSecretsError) throw err
    throw problem(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1) // a UTF-8 BOM (Windows editors) is not part of the content
  const json = extname(file).toLowerCase() === '.json' || (extname(file) === '' && text.trimStart().startsWith('{'))
  if (!json) return Object.entries(parseEnv(text)) as Array<[string, string]>
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    // V8's parse message quotes the file's text, i.e. secret values: say only that it failed
    throw problem(`${file} is not valid JSON`)
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw problem(`${file} must hold a JSON object of name → value`)
  }
  // nested objects stay JSON text, so `name#a.b` works as it does against a cloud store
  const entries: Array<[string, string]> = []
  for (const [name, value] of Object.entries(parsed)) {
    if (typeof value === 'string') { entries.push([name, value]); continue }
    let serialized: string
    try {
      serialized = JSON.stringify(value)
    } catch {
      throw problem(`the value of "${name.slice(0, 64)}" in ${file} is nested too deeply`)
    }
    entries.push([name, serialized])
  }
  return entries
}
