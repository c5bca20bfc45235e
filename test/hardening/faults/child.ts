import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { distChildEnv, spawnNode } from '../../helpers/child-env.js'

// Runs one startup as a child process: a plain ESM app importing the built dist/index.js,
// configured by env vars only. It prints one JSON line with the outcome and does NOT call
// process.exit: the process must end by itself, which proves nothing was left open.

const root = fileURLToPath(new URL('../../../', import.meta.url))

export interface ChildOutcome {
  ok: boolean
  code?: string
  /** codes of the aggregated failures (LOAD_FAILED) */
  inner?: string[]
  pending?: string[]
  /** ms from register to ready/failure, measured in the child */
  ms: number
  /** message + util.inspect of the error, for leak scans */
  text?: string
  principal?: string
  secrets?: number
}

export interface ChildResult {
  outcome?: ChildOutcome
  /** the child exited by itself before the hard limit */
  exited: boolean
  exitCode: number | null
  /** ms between the outcome line and the exit */
  exitLagMs?: number
  /** how many startups the child ran (runChildBatch) */
  batch?: number
  stdout: string
  stderr: string
}

let script: string | undefined

/** Builds dist/ once if missing, and writes the child app once per process. */
export function childScript (): string {
  if (script !== undefined) return script
  if (!existsSync(join(root, 'dist', 'index.js'))) {
    const built = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'pipe' })
    if (built.status !== 0) throw new Error(`npm run build failed: ${String(built.stdout)}`)
  }
  const dir = mkdtempSync(join(tmpdir(), 'fcs-fault-child-'))
  script = join(dir, 'app.mjs')
  writeFileSync(script, `
import { inspect } from 'node:util'
const Fastify = (await import(${JSON.stringify(pathToFileURL(join(root, 'node_modules', 'fastify', 'fastify.js')).href)})).default
const cloudSecrets = (await import(${JSON.stringify(pathToFileURL(join(root, 'dist', 'index.js')).href)})).default
// the SDK is loaded before the clock starts: the matrix measures fault handling, not module loading
for (const url of JSON.parse(process.env.FCS_FAULT_WARM ?? '[]')) await (await import(url)).warm?.()
async function boot () {
  const app = Fastify({ logger: false, pluginTimeout: 60000 })
  const started = Date.now()
  app.register(cloudSecrets)
  try {
    await app.ready()
    const outcome = { ok: true, ms: Date.now() - started, principal: app.cloud.identity.principal, secrets: Object.keys(app.secrets).length }
    await app.close()
    return outcome
  } catch (err) {
    return { ok: false, ms: Date.now() - started, code: err.code, inner: err.errors?.map((e) => e.code), pending: err.pending, text: String(err.message) + '\\n' + inspect(err, { depth: 6 }) }
  }
}
const batch = process.env.FCS_FAULT_BATCH_FILE
if (batch === undefined) {
  process.stdout.write('FCS-OUTCOME ' + JSON.stringify(await boot()) + '\\n')
} else {
  // several startups one after the other, each with its own env on top of the child's own
  const base = { ...process.env }
  const { readFileSync } = await import('node:fs')
  for (const [i, vars] of JSON.parse(readFileSync(batch, 'utf8')).entries()) {
    for (const name of Object.keys(process.env)) if (!(name in base)) delete process.env[name]
    Object.assign(process.env, base)
    for (const [name, value] of Object.entries(vars)) {
      if (value === null) delete process.env[name]
      else process.env[name] = value
    }
    process.stdout.write('FCS-OUTCOME ' + JSON.stringify({ ...(await boot()), i }) + '\\n')
  }
}
// no process.exit: the event loop must drain by itself
`)
  return script
}

/** Module URLs to import in the child before the clock starts (resolved from the repository). */
export function warmUrls (specifiers: readonly string[]): string[] {
  return specifiers.map((s) => import.meta.resolve(s))
}

/**
 * Runs the child. Two limits, each measured from what it bounds, so a loaded machine (CI runs
 * every test file in parallel under coverage) slows the child down without failing it:
 * `outcomeLimitMs` from spawn to the outcome line (module loading included), `exitLimitMs` from
 * the outcome line to the exit (what "nothing was left running" means).
 */
export async function runChild (env: Record<string, string | undefined>, options: { warm?: readonly string[], outcomeLimitMs?: number, exitLimitMs?: number } = {}): Promise<ChildResult> {
  const file = childScript()
  const childEnv = distChildEnv(env, { FCS_FAULT_WARM: JSON.stringify(options.warm ?? []) })
  const child = spawnNode([file], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  let outcomeAt: number | undefined
  const exit = await new Promise<{ code: number | null } | undefined>((resolve) => {
    let timer = setTimeout(() => resolve(undefined), options.outcomeLimitMs ?? 60_000)
    child.stdout.on('data', (d: Buffer) => {
      stdout += String(d)
      if (outcomeAt === undefined && stdout.includes('FCS-OUTCOME ')) {
        outcomeAt = Date.now()
        clearTimeout(timer)
        timer = setTimeout(() => resolve(undefined), options.exitLimitMs ?? 10_000)
      }
    })
    child.stderr.on('data', (d: Buffer) => { stderr += String(d) })
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code }) })
  })
  if (exit === undefined) {
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('exit', resolve))
  }
  const line = stdout.split('\n').find((l) => l.startsWith('FCS-OUTCOME '))
  return {
    outcome: line === undefined ? undefined : JSON.parse(line.slice('FCS-OUTCOME '.length)) as ChildOutcome,
    exited: exit !== undefined,
    exitCode: exit?.code ?? null,
    exitLagMs: exit !== undefined && outcomeAt !== undefined ? Date.now() - outcomeAt : undefined,
    stdout,
    stderr
  }
}

/**
 * Runs several startups in one child, one after the other (one node start and SDK import for
 * all of them): each gets its own env on top of the child's. One ChildResult per startup; they
 * share the child's output, and its exit, measured from the last outcome.
 */
export async function runChildBatch (envs: ReadonlyArray<Record<string, string | undefined>>, options: { warm?: readonly string[], outcomeLimitMs?: number, exitLimitMs?: number } = {}): Promise<ChildResult[]> {
  const file = childScript()
  const list = join(mkdtempSync(join(tmpdir(), 'fcs-fault-batch-')), 'cases.json')
  writeFileSync(list, JSON.stringify(envs.map((env) => Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v ?? null])))))
  const childEnv = distChildEnv({ FCS_FAULT_WARM: JSON.stringify(options.warm ?? []), FCS_FAULT_BATCH_FILE: list })
  const child = spawnNode([file], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  const outcomes = new Map<number, ChildOutcome>()
  let lastAt: number | undefined
  const exit = await new Promise<{ code: number | null } | undefined>((resolve) => {
    const arm = (ms: number): NodeJS.Timeout => setTimeout(() => resolve(undefined), ms)
    let timer = arm(options.outcomeLimitMs ?? 60_000)
    let pending = ''
    child.stdout.on('data', (d: Buffer) => {
      stdout += String(d)
      pending += String(d)
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) {
        if (!line.startsWith('FCS-OUTCOME ')) continue
        const outcome = JSON.parse(line.slice('FCS-OUTCOME '.length)) as ChildOutcome & { i: number }
        outcomes.set(outcome.i, outcome)
        clearTimeout(timer)
        if (outcomes.size === envs.length) {
          lastAt = Date.now()
          timer = arm(options.exitLimitMs ?? 10_000)
        } else {
          timer = arm(options.outcomeLimitMs ?? 60_000)
        }
      }
    })
    child.stderr.on('data', (d: Buffer) => { stderr += String(d) })
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code }) })
  })
  if (exit === undefined) {
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('exit', resolve))
  }
  return envs.map((_env, i) => ({
    outcome: outcomes.get(i),
    exited: exit !== undefined,
    exitCode: exit?.code ?? null,
    exitLagMs: exit !== undefined && lastAt !== undefined ? Date.now() - lastAt : undefined,
    batch: envs.length,
    stdout,
    stderr
  }))
}

/** Runs tasks with at most `limit` at a time (children compete for 2 cores). */
export async function inParallel<T> (limit: number, tasks: ReadonlyArray<() => Promise<T>>): Promise<T[]> {
  const results: T[] = new Array(tasks.length)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, async () => {
    while (next < tasks.length) {
      const i = next++
      results[i] = await tasks[i]()
    }
  }))
  return results
}
