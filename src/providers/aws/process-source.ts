import type { ChildProcess } from 'node:child_process'
import { killProcessTree, runCommand } from '../../shared/child-process.js'

/**
 * The `credential_process` source, run by the plugin instead of the SDK: the SDK runs the
 * command with `exec` and no timeout, so a command that hangs would keep the process (and the
 * command's own children) alive after a failed startup. Here it runs in its own process group,
 * killed with everything it started at the startup deadline and on close.
 * Output contract (AWS CLI docs): JSON with Version 1, AccessKeyId, SecretAccessKey, and
 * optionally SessionToken and Expiration (ISO 8601).
 */

export interface ProcessCredentials {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
  expiration?: Date
  accountId?: string
  $source?: Record<string, string>
}

/** a refresh after startup (no deadline signal then) is bounded by this */
const LATER_CALL_TIMEOUT_MS = 60_000
/** re-run the command this long before its credentials expire, as the SDK does */
const EXPIRY_WINDOW_MS = 5 * 60_000

/** a credential helper's stderr may echo keys or tokens: long opaque runs are replaced */
function scrub (line: string): string {
  return line.replace(/[A-Za-z0-9+/=_.-]{20,}/g, '[redacted]').slice(0, 200)
}

export class CredentialProcessError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'CredentialProcessError'
  }
}

export class ProcessCredentialSource {
  private readonly children = new Set<ChildProcess>()
  private cached: ProcessCredentials | undefined
  private pending: Promise<ProcessCredentials> | undefined
  private signal: AbortSignal | undefined

  constructor (private readonly command: string, private readonly profile: string, private readonly env: Readonly<Record<string, string | undefined>>) {}

  /** the credential provider function SDK clients take */
  readonly provider = async (): Promise<ProcessCredentials> => {
    const c = this.cached
    if (c !== undefined && (c.expiration === undefined || c.expiration.getTime() - Date.now() > EXPIRY_WINDOW_MS)) return c
    this.pending ??= this.run().finally(() => { this.pending = undefined })
    return await this.pending
  }

  /** the startup step's signal: aborting it kills the running command's process group */
  async during<T>(signal: AbortSignal, task: () => Promise<T>): Promise<T> {
    this.signal = signal
    const kill = (): void => { this.kill() }
    signal.addEventListener('abort', kill, { once: true })
    try {
      return await task()
    } finally {
      signal.removeEventListener('abort', kill)
      this.signal = undefined
    }
  }

  kill (): void {
    for (const child of this.children) killProcessTree(child)
  }

  private async run (): Promise<ProcessCredentials> {
    const result = await runCommand(this.command, [], {
      children: this.children,
      signal: this.signal,
      env: this.env,
      shell: true,
      cwd: process.cwd(),
      timeoutMs: this.signal === undefined ? LATER_CALL_TIMEOUT_MS : undefined
    })
    const where = `credential_process of profile "${this.profile}"`
    if (result.spawnError !== undefined) throw new CredentialProcessError(`${where} could not run: ${result.spawnError.message}`)
    // stderr may explain; stdout may hold credentials and is never quoted
    if (result.code !== 0) throw new CredentialProcessError(`${where} exited with code ${String(result.code)}${result.stderr.trim() !== '' ? `: ${scrub(result.stderr.trim().split('\n')[0])}` : ''}`)
    let out: Record<string, unknown>
    try {
      out = JSON.parse(result.stdout) as Record<string, unknown>
    } catch {
      throw new CredentialProcessError(`${where} did not print JSON`)
    }
    if (out.Version !== 1) throw new CredentialProcessError(`${where} printed Version ${JSON.stringify(out.Version ?? null)}; only Version 1 is supported`)
    if (typeof out.AccessKeyId !== 'string' || typeof out.SecretAccessKey !== 'string') throw new CredentialProcessError(`${where} printed no AccessKeyId / SecretAccessKey`)
    const expiration = typeof out.Expiration === 'string' ? new Date(out.Expiration) : undefined
    if (expiration !== undefined && Number.isNaN(expiration.getTime())) throw new CredentialProcessError(`${where} printed an Expiration that is not a date`)
    if (expiration !== undefined && expiration.getTime() <= Date.now()) throw new CredentialProcessError(`${where} printed credentials that expired at ${expiration.toISOString()}`)
    const credentials: ProcessCredentials = {
      accessKeyId: out.AccessKeyId,
      secretAccessKey: out.SecretAccessKey,
      ...(typeof out.SessionToken === 'string' ? { sessionToken: out.SessionToken } : {}),
      ...(expiration !== undefined ? { expiration } : {}),
      ...(typeof out.AccountId === 'string' ? { accountId: out.AccountId } : {}),
      $source: { CREDENTIALS_PROCESS: 'w' }
    }
    this.cached = credentials
    return credentials
  }
}
