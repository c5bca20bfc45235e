import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import { distChildEnv, nodeCommand, spawnNode } from '../helpers/child-env.js'
import cloudSecrets, { type CloudSecretsError } from '../../src/index.js'
import { main } from '../../src/cli/main.js'

/** The built CLI (run `npm run build` first): tests run it exactly as a user's shell would. */
export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url))

export interface CliRun {
  code: number | null
  stdout: string
  stderr: string
  ms: number
}

/** Env vars the CLI reads; every run starts from the hermetic test env with none of them set. */
const CLI_VARS = ['CLOUD_SECRETS', 'CLOUD_SECRETS_PROVIDER', 'CLOUD_SECRETS_TIMEOUT_MS', 'CLOUD_SECRETS_LOCAL_FILE', 'CLOUD_SECRETS_CHECK_SCOPES', 'CLOUD_SECRETS_REFRESH_MS', 'NO_COLOR', 'FORCE_COLOR']

function childEnv (env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const unset = Object.fromEntries(CLI_VARS.map((name) => [name, undefined]))
  // without tap's process-info loader and c8's profile (see test/helpers/child-env.ts); the loopback guard stays
  return distChildEnv(unset, env)
}

/** Runs `node dist/cli.js …args` with stdout piped (not a TTY). */
export async function runCli (args: string[], env: Record<string, string | undefined> = {}, options: { cwd?: string, timeoutMs?: number } = {}): Promise<CliRun> {
  const started = Date.now()
  const child = spawnNode([CLI, ...args], { env: childEnv(env), cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const killer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000)
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
  clearTimeout(killer)
  return { code, stdout, stderr, ms: Date.now() - started }
}

let queue: Promise<unknown> = Promise.resolve()

/**
 * The same command, run by the CLI's own main() (src/cli.ts only adds process.exit) in this
 * process: what the child would print for this env, without a node start and an SDK import per
 * run. process.env is set to exactly the child's env for the run (the cloud SDKs read it
 * themselves), and runs take turns, so callers may still start several at once. The child-process
 * runner above stays for what only a real process shows (exit status, a terminal, the bin).
 */
export async function runCliInProcess (args: string[], env: Record<string, string | undefined> = {}, options: { cwd?: string, timeoutMs?: number } = {}): Promise<CliRun> {
  const run = queue.then(async () => await inProcess(args, env, options.cwd))
  queue = run.catch(() => {})
  return await run
}

async function inProcess (args: string[], env: Record<string, string | undefined>, cwd: string | undefined): Promise<CliRun> {
  const saved = { ...process.env }
  const target: Record<string, string | undefined> = { ...saved }
  for (const name of CLI_VARS) delete target[name]
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete target[name]
    else target[name] = value
  }
  const replace = (vars: Record<string, string | undefined>): void => {
    for (const name of Object.keys(process.env)) if (!(name in vars)) delete process.env[name]
    for (const [name, value] of Object.entries(vars)) if (value !== undefined) process.env[name] = value
  }
  let stdout = ''
  let stderr = ''
  const started = Date.now()
  replace(target)
  try {
    const code = await main(args, {
      stdout: { isTTY: false, write: (text: string, cb: () => void) => { stdout += text; cb(); return true } },
      stderr: { isTTY: false, write: (text: string, cb: () => void) => { stderr += text; cb(); return true } },
      env: process.env,
      cwd: cwd ?? process.cwd()
    })
    return { code, stdout, stderr, ms: Date.now() - started }
  } finally {
    replace(saved)
  }
}

/** `script` (util-linux) gives the child a pseudo-terminal, so stdout.isTTY is really true. */
export const HAS_SCRIPT = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0

function shellQuote (s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`
}

/** Runs the CLI on a pseudo-terminal; stdout and stderr arrive mixed, as a terminal shows them. */
export async function runCliOnTty (args: string[], env: Record<string, string | undefined> = {}): Promise<CliRun> {
  const started = Date.now()
  const childVars = childEnv(env)
  const command = nodeCommand([CLI, ...args], childVars).flat().map(shellQuote).join(' ')
  const child = spawn('script', ['-qefc', command, '/dev/null'], { env: childVars, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)))
  return { code, stdout, stderr, ms: Date.now() - started }
}

/** A temp dir holding a local values file (JSON) and whatever else a test writes there. */
export function tempDir (): string {
  return mkdtempSync(join(tmpdir(), 'fcs-cli-'))
}

export function writeValues (dir: string, values: Record<string, unknown>, name = 'secrets.json'): string {
  const file = join(dir, name)
  writeFileSync(file, JSON.stringify(values))
  return file
}

export function parseJson (run: CliRun): Record<string, any> {
  try {
    return JSON.parse(run.stdout) as Record<string, any>
  } catch (err) {
    throw new Error(`stdout is not JSON (exit ${String(run.code)}): ${run.stdout.slice(0, 500)} / stderr: ${run.stderr.slice(0, 500)}`, { cause: err })
  }
}

/**
 * The plugin's own startup error for `env` (undefined deletes a var), on a real Fastify app in
 * this process: what the doctor must agree with.
 */
export async function startupError (env: Record<string, string | undefined>): Promise<CloudSecretsError | undefined> {
  const saved = new Map(Object.keys(env).map((k) => [k, process.env[k]]))
  const apply = (vars: Iterable<[string, string | undefined]>): void => {
    for (const [k, v] of vars) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  }
  apply(Object.entries(env))
  const app = Fastify({ logger: false, pluginTimeout: 20_000 })
  try {
    app.register(cloudSecrets)
    return await app.ready().then(() => undefined, (e: unknown) => e as CloudSecretsError)
  } finally {
    await app.close()
    apply(saved)
  }
}

/** runCliInProcess that also keeps every run in `outputs`, for the file's final leak scan. */
export function recordingCli (outputs: CliRun[]): (args: string[], env: Record<string, string | undefined>, timeoutMs?: number) => Promise<CliRun> {
  return async (args, env, timeoutMs) => {
    const run = await runCliInProcess(args, env, { timeoutMs })
    outputs.push(run)
    return run
  }
}
