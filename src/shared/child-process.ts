import { spawn, type ChildProcess } from 'node:child_process'

/**
 * Child processes the providers start (az, azd, gcloud, an AWS credential_process): each runs in
 * its own process group, so the deadline or close() kills it *and everything it started*, and
 * its pipes are let go, so a hung command never keeps Node alive after a failed startup.
 */

export interface CommandResult {
  code: number | null
  stdout: string
  stderr: string
  spawnError?: NodeJS.ErrnoException
}

export interface RunOptions {
  /** every running child is kept here, so the provider's close() can kill what is left */
  children: Set<ChildProcess>
  signal?: AbortSignal
  /** environment of the child (default: this process's) */
  env?: Readonly<Record<string, string | undefined>>
  /** run `command` through the shell (a credential_process is a command line) */
  shell?: boolean
  /** working directory (default: the filesystem root, so a CLI never reads the app's folder) */
  cwd?: string
  /** a bound of the plugin's own for calls after startup, when no deadline signal applies */
  timeoutMs?: number
}

const MAX_STDOUT = 1_000_000
const MAX_STDERR = 100_000

/** Runs a command in its own process group; settles at once when `signal` aborts (the group is killed). */
export async function runCommand (command: string, args: readonly string[], options: RunOptions): Promise<CommandResult> {
  return await new Promise((resolve) => {
    const windows = process.platform === 'win32'
    let child: ChildProcess
    try {
      child = spawn(command, [...args], {
        cwd: options.cwd ?? (windows ? (process.env.SystemRoot ?? 'C:\\Windows') : '/'),
        env: options.env === undefined ? undefined : { ...options.env } as NodeJS.ProcessEnv,
        detached: !windows,
        shell: options.shell === true || windows,
        windowsHide: true,
        stdio: ['ignore', 'pipe', 'pipe']
      })
    } catch (err) {
      resolve({ code: null, stdout: '', stderr: '', spawnError: err as NodeJS.ErrnoException })
      return
    }
    options.children.add(child)
    let stdout = ''
    let stderr = ''
    child.stdout?.setEncoding('utf8').on('data', (d: string) => { if (stdout.length < MAX_STDOUT) stdout += d })
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < MAX_STDERR) stderr += d })
    let timer: NodeJS.Timeout | undefined
    // settle at once on abort: the killed child is unref'd, so waiting for its 'close' could
    // outlive the event loop
    const stop = (why: string): void => {
      killProcessTree(child)
      done({ code: null, stdout, stderr, spawnError: Object.assign(new Error(why), { code: 'ABORT_ERR' }) })
    }
    const onAbort = (): void => { stop('aborted') }
    let settled = false
    const done = (result: CommandResult): void => {
      if (settled) return
      settled = true
      options.signal?.removeEventListener('abort', onAbort)
      clearTimeout(timer)
      options.children.delete(child)
      resolve(result)
    }
    // listeners first: killing a child that is still starting can emit 'error' synchronously,
    // and a second 'error' (after a failed kill) must not become an uncaught exception
    child.on('error', (err: NodeJS.ErrnoException) => { done({ code: null, stdout, stderr, spawnError: err }) })
    child.once('close', (code) => { done({ code, stdout, stderr }) })
    if (options.timeoutMs !== undefined) {
      timer = setTimeout(() => { stop(`timed out after ${options.timeoutMs ?? 0} ms`) }, options.timeoutMs)
      timer.unref()
    }
    if (options.signal?.aborted === true) onAbort()
    else options.signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** Kills a child and its process group, and lets go of its pipes so nothing keeps Node alive. */
export function killProcessTree (child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    try {
      if (process.platform === 'win32') child.kill()
      else process.kill(-child.pid, 'SIGKILL')
    } catch {
      child.kill('SIGKILL')
    }
  }
  child.stdout?.destroy()
  child.stderr?.destroy()
  child.unref()
}
