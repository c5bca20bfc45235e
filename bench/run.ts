// npm run bench — prints every figure beside its baseline from the same run, as a ratio, and
// writes bench/results.json. `npm run bench -- --quick` for fewer runs; `--only name,name`.
import { writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import { coldStart, type ProviderBootCase } from './sections/cold-start.js'
import { requestOverhead } from './sections/request-overhead.js'

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' } } })
const only = values.only?.split(',')
const want = (name: string): boolean => only === undefined || only.includes(name)
const runs = values.quick === true ? 3 : 5

const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, date: new Date().toISOString() }
const results: Record<string, unknown> = { machine, command: `npm run bench${values.quick === true ? ' -- --quick' : ''}` }
console.log(`fastify-cloud-secrets benchmarks — ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, Node ${machine.node}\n`)

const bootCases: ProviderBootCase[] = [
  { provider: 'local', env: { CLOUD_SECRETS_PROVIDER: 'local', CLOUD_SECRETS: 'jwtKey=jwt-signing-key', CLOUD_SECRETS_LOCAL_FILE: 'example-app/secrets.local.json' }, sdks: [] }
]

if (want('cold-start')) {
  const r = await coldStart(bootCases, { runs })
  results.coldStart = r.rows
  console.log(`## Cold start and memory (fresh process each, ${runs} runs)\n\n${r.table}\n`)
}

if (want('request-overhead')) {
  const r = await requestOverhead({ runs, seconds: values.quick === true ? 2 : 3 })
  results.requestOverhead = { bare: r.bare, plugin: r.plugin, ratio: r.ratio, target: r.target, met: r.met }
  console.log(`## Per-request cost (autocannon, 10 connections)\n\n${r.table}\n`)
}

writeFileSync(new URL('./results.json', import.meta.url), JSON.stringify(results, null, 2) + '\n')
console.log('wrote bench/results.json')
