// The import cost of one path of ours, in a fresh process: loads (untimed) what the boot loaded
// before its clock started (Fastify), then times loading every module the boot loaded inside its
// clock, as recorded by peer-boot.mjs under test/helpers/record-loads.mjs (argv[2]: that list, a
// JSON file). ES modules are imported in the order they were resolved (they pull in most of the
// CommonJS below them); the CommonJS modules left are then required. Prints one JSON line.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { isAbsolute } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'

const list = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const require = createRequire(import.meta.url)
await import('fastify')
const esm = list.filter((m) => m.startsWith('file:') && !m.endsWith('.json') && !m.endsWith('.node'))
const cjs = list.filter((m) => isAbsolute(m) || (m.startsWith('file:') && (m.endsWith('.json') || m.endsWith('.node')))).map((m) => (m.startsWith('file:') ? fileURLToPath(m) : m))
let failed = 0
const started = performance.now()
for (const url of esm) await import(url).catch(() => { failed++ })
for (const file of cjs) try { require(file) } catch { failed++ }
const importMs = performance.now() - started
process.stdout.write(JSON.stringify({ importMs, modules: esm.length + cjs.length, failed }) + '\n')
