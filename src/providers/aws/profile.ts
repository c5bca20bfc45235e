import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { Env } from '../../shared/env.js'

// What the shared config files say (no network): the profile the SDK will use and its kind.

export type ProfileKind = 'sso' | 'role' | 'static' | 'web-identity' | 'process' | 'login' | 'empty'

export interface ProfileInfo {
  name: string
  /** AWS_PROFILE was set (rather than the implicit "default") */
  explicit: boolean
  found: boolean
  kind?: ProfileKind
  /** the files that were read */
  files: string[]
  region?: string
  /** the profile's credential_process command line (run by the plugin, never logged) */
  credentialProcess?: string
  /** the profile's own settings (config and credentials files merged; `sts.endpoint_url` style keys for sub-settings) */
  settings?: Readonly<Record<string, string>>
  /** the `[services <name>]` section the profile names, as `sts.endpoint_url` style keys */
  services?: Readonly<Record<string, string>>
}

type Sections = Map<string, Record<string, string>>

/** A small INI reader, enough to classify a profile the way the SDK's fromIni does. */
export function parseIni (text: string): Sections {
  const sections: Sections = new Map()
  let current: Record<string, string> | undefined
  let parent: string | undefined
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s*[#;].*$/, '')
    const header = /^\s*\[([^\]]+)\]\s*$/.exec(line)
    if (header !== null) {
      const name = header[1].trim().replace(/\s+/g, ' ')
      current = sections.get(name) ?? {}
      sections.set(name, current)
      parent = undefined
      continue
    }
    if (current === undefined) continue
    const eq = line.indexOf('=')
    if (eq === -1) continue
    const key = line.slice(0, eq).trim().toLowerCase()
    const value = line.slice(eq + 1).trim()
    // an indented line is a sub-setting of the last key with an empty value (`sts =` then
    // `  endpoint_url = …`): kept as `sts.endpoint_url`, as the SDK's config loader does
    if (/^\s/.test(line)) {
      if (parent !== undefined) current[`${parent}.${key}`] = value
      continue
    }
    parent = value === '' ? key : undefined
    current[key] = value
  }
  return sections
}

function readText (file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/** HOME as the SDK's getHomeDir reads it, from `env` */
export function homeOf (env: Env): string {
  const set = (v: string | undefined): v is string => v !== undefined && v !== ''
  if (set(env.HOME)) return env.HOME
  if (set(env.USERPROFILE)) return env.USERPROFILE
  if (set(env.HOMEPATH)) return `${env.HOMEDRIVE ?? 'C:\\'}${env.HOMEPATH}`
  return homedir()
}

/** The shared files the SDK reads for `env` (an empty var means the default; `~/` is env's HOME). */
export function configFiles (env: Env): { config: string, credentials: string } {
  const home = homeOf(env)
  const pick = (value: string | undefined, fallback: string): string => {
    const file = value !== undefined && value !== '' ? value : fallback
    return file.startsWith('~/') ? join(home, file.slice(2)) : file
  }
  return {
    config: pick(env.AWS_CONFIG_FILE, join(home, '.aws', 'config')),
    credentials: pick(env.AWS_SHARED_CREDENTIALS_FILE, join(home, '.aws', 'credentials'))
  }
}

export function classifyProfile (settings: Record<string, string>): ProfileKind {
  if (settings.role_arn !== undefined && (settings.source_profile !== undefined || settings.credential_source !== undefined)) return 'role'
  if (settings.aws_access_key_id !== undefined && settings.aws_secret_access_key !== undefined) return 'static'
  if (settings.role_arn !== undefined && settings.web_identity_token_file !== undefined) return 'web-identity'
  if (settings.credential_process !== undefined) return 'process'
  if (settings.sso_session !== undefined || settings.sso_start_url !== undefined) return 'sso'
  if (settings.login_session !== undefined) return 'login'
  return 'empty'
}

/** Reads the profile the SDK will use (AWS_PROFILE or "default") from both shared files. */
export function readProfile (env: Env, profile?: string): ProfileInfo {
  const name = profile ?? env.AWS_PROFILE ?? 'default'
  const files = configFiles(env)
  const config = parseIni(readText(files.config) ?? '')
  const credentials = parseIni(readText(files.credentials) ?? '')
  const fromConfig = config.get(name === 'default' ? 'default' : `profile ${name}`) ?? (name === 'default' ? config.get('profile default') : undefined)
  const fromCredentials = credentials.get(name)
  const info: ProfileInfo = { name, explicit: profile !== undefined || env.AWS_PROFILE !== undefined, found: false, files: [files.config, files.credentials] }
  if (fromConfig === undefined && fromCredentials === undefined) return info
  const settings = { ...fromConfig, ...fromCredentials }
  const services = settings.services !== undefined ? config.get(`services ${settings.services}`) : undefined
  return { ...info, found: true, kind: classifyProfile(settings), region: settings.region, credentialProcess: settings.credential_process, settings, services }
}
