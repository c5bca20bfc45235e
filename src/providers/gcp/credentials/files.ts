import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { Env } from '../../../shared/env.js'
import { safeText } from '../errors.js'

/** The credential sources a file can hold (the metadata server is the other one). */
export type FileSource = 'gcp:service-account-key' | 'gcp:authorized-user' | 'gcp:external-account' | 'gcp:impersonated-service-account'

/** A parsed credential file. Holds private keys / refresh tokens: never log or report it. */
export interface CredentialJson {
  type?: string
  project_id?: string
  client_email?: string
  private_key_id?: string
  audience?: string
  token_url?: string
  service_account_impersonation_url?: string
  credential_source?: { file?: string, url?: string, executable?: unknown, environment_id?: string }
  [key: string]: unknown
}

const FILE_SOURCES: Readonly<Record<string, FileSource>> = {
  service_account: 'gcp:service-account-key',
  authorized_user: 'gcp:authorized-user',
  external_account: 'gcp:external-account',
  external_account_authorized_user: 'gcp:external-account',
  impersonated_service_account: 'gcp:impersonated-service-account'
}

/** Where `gcloud auth application-default login` writes its credentials. */
export function wellKnownCredentialFile (env: Env): string {
  const configDir = env.CLOUDSDK_CONFIG !== undefined && env.CLOUDSDK_CONFIG !== ''
    ? env.CLOUDSDK_CONFIG
    : process.platform === 'win32'
      ? join(env.APPDATA ?? join(homedir(), 'AppData', 'Roaming'), 'gcloud')
      : join(env.HOME ?? homedir(), '.config', 'gcloud')
  return join(configDir, 'application_default_credentials.json')
}

export type FileRead = { ok: true, json: CredentialJson, source: FileSource } | { ok: false, missing: boolean, reason: string }

/** Reads and types a credential file; the reason never quotes its text (private keys, refresh tokens). */
export async function readCredentialFile (file: string): Promise<FileRead> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error'
    return { ok: false, missing: code === 'ENOENT', reason: `cannot read ${file} (${code})` }
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    // never quote the parse error: it shows the file's text (a private key or refresh token)
    return { ok: false, missing: false, reason: `${file} is not valid JSON` }
  }
  const type = (json as CredentialJson | null)?.type
  const source = typeof type === 'string' ? FILE_SOURCES[type] : undefined
  if (source === undefined) {
    return { ok: false, missing: false, reason: `${file} has credential type ${JSON.stringify(safeText(type ?? 'none'))}; expected one of ${Object.keys(FILE_SOURCES).join(', ')}` }
  }
  return { ok: true, json: json as CredentialJson, source }
}
