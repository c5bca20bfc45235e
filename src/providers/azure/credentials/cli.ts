import type { ChildProcess } from 'node:child_process'
import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth'
import { runCommand, type CommandResult } from '../../../shared/child-process.js'
import { SourceUnavailableError } from './unavailable.js'

// Azure CLI / Azure Developer CLI, run by us so a hung CLI can be killed (with its children) at
// the deadline or close(), and so @azure/identity need not load for a developer's laptop.

const SAFE_ARG = /^[A-Za-z0-9_.:/-]{1,512}$/

/** `az account get-access-token` or `azd auth token`, one process per scope and tenant, cached until 5 min before expiry. */
export class CliCredential implements TokenCredential {
  private readonly cache = new Map<string, AccessToken>()
  constructor (readonly tool: 'az' | 'azd', private readonly children: Set<ChildProcess>) {}

  async getToken (scopes: string | string[], options: GetTokenOptions = {}): Promise<AccessToken> {
    const scope = Array.isArray(scopes) ? scopes[0] : scopes
    const tenant = options.tenantId
    if (!SAFE_ARG.test(scope) || (tenant !== undefined && !/^[0-9A-Za-z.-]{1,128}$/.test(tenant))) {
      throw new SourceUnavailableError(`${this.tool}: invalid scope or tenant id`)
    }
    const key = `${scope} ${tenant ?? ''}`
    const cached = this.cache.get(key)
    if (cached !== undefined && cached.expiresOnTimestamp - Date.now() > 5 * 60_000) return cached
    const resource = scope.replace(/\/\.default$/, '')
    const args = this.tool === 'az'
      ? ['account', 'get-access-token', '--output', 'json', '--resource', resource, ...(tenant !== undefined ? ['--tenant', tenant] : [])]
      : ['auth', 'token', '--output', 'json', '--no-prompt', '--scope', scope, ...(tenant !== undefined ? ['--tenant-id', tenant] : [])]
    const result = await runCommand(this.tool, args, { children: this.children, signal: options.abortSignal as AbortSignal | undefined })
    const token = this.parse(result)
    this.cache.set(key, token)
    return token
  }

  private parse (result: CommandResult): AccessToken {
    const { tool } = this
    if (result.spawnError !== undefined) {
      if (result.spawnError.code === 'ENOENT') throw new SourceUnavailableError(`${tool} is not installed (not found on PATH)`, { notInstalled: true })
      throw new SourceUnavailableError(`${tool} could not be started (${result.spawnError.code ?? 'error'})`)
    }
    const stderr = result.stderr.trim()
    if (result.code !== 0) {
      const firstLine = scrubCliText(stderr.split('\n').find((l) => l.trim().length > 0) ?? `exit code ${String(result.code)}`)
      if (/not found|is not recognized/.test(stderr) && result.code === 127) throw new SourceUnavailableError(`${tool} is not installed (${firstLine})`, { notInstalled: true })
      if (tool === 'az' ? /az login/.test(stderr) && !/az login --scope/.test(stderr) : /not logged in|azd auth login|azd login/.test(stderr)) {
        throw new SourceUnavailableError(`not logged in (${tool}: ${firstLine})`, { notLoggedIn: true })
      }
      throw new SourceUnavailableError(`${tool} failed (exit ${String(result.code)}): ${firstLine}`)
    }
    let parsed: Record<string, unknown>
    try {
      parsed = JSON.parse(result.stdout) as Record<string, unknown>
    } catch {
      // never echo the output: it is a token when the format is only slightly off
      throw new SourceUnavailableError(`${tool} printed something that is not the expected JSON`)
    }
    const token = tool === 'az' ? parsed.accessToken : parsed.token
    if (typeof token !== 'string' || token.length === 0) throw new SourceUnavailableError(`${tool} printed no access token`)
    let expires = Number.parseInt(String(parsed.expires_on), 10) * 1000
    if (Number.isNaN(expires)) expires = new Date(String(parsed.expiresOn)).getTime()
    if (Number.isNaN(expires)) throw new SourceUnavailableError(`${tool} printed no valid expiry`)
    return { token, expiresOnTimestamp: expires, tokenType: 'Bearer' }
  }
}

/** A CLI's stderr line with anything token-shaped removed, at most 300 characters. */
export function scrubCliText (text: string): string {
  return text.replace(/eyJ[\w-]+\.[\w-]+\.[\w-]*/g, '[token]').slice(0, 300)
}
