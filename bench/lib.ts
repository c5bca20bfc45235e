import { execFile, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const root = fileURLToPath(new URL('..', import.meta.url))
export const recorder = fileURLToPath(new URL('../test/helpers/record-loads.mjs', import.meta.url))

export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

export function stats (values: number[]): { min: number, median: number, max: number, runs: number } {
  return { min: Math.min(...values), median: median(values), max: Math.max(...values), runs: values.length }
}

export function round (n: number, digits = 1): number {
  const f = 10 ** digits
  return Math.round(n * f) / f
}

/** Runs a node script in a fresh process and parses the last JSON line it prints. */
export async function runJson<T> (args: string[], env: Record<string, string | undefined> = {}): Promise<T> {
  const merged: Record<string, string> = {}
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) merged[k] = v
  // the fakes' CA in Node's default store from the start, as a production root is (see the loopback guard)
  if (merged.FCS_TEST_CA_FILE !== undefined) merged.NODE_EXTRA_CA_CERTS = merged.FCS_TEST_CA_FILE
  return await new Promise<T>((resolve, reject) => {
    execFile(process.execPath, args, { cwd: root, env: merged, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null) { reject(new Error(`${args.join(' ')} failed: ${stderr}`)); return }
      const last = stdout.trim().split('\n').pop() ?? ''
      resolve(JSON.parse(last) as T)
    })
  })
}

/** Starts a server script that prints its port; returns the port and a stop function. */
export async function startServer (args: string[], env: Record<string, string | undefined> = {}): Promise<{ port: number, stop: () => Promise<void> }> {
  const child = spawn(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d) => {
      out += String(d)
      const m = /^(\d+)\n/.exec(out)
      if (m !== null) resolve(Number(m[1]))
    })
    child.once('exit', (code) => reject(new Error(`server exited with ${String(code)}`)))
  })
  return {
    port,
    stop: async () => await new Promise<void>((resolve) => { child.once('exit', () => resolve()); child.kill('SIGTERM') })
  }
}

export function table (headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map(String))]
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)))
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`
  return [line(cells[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n')
}
