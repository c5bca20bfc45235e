// npm run bench — prints every figure beside its baseline from the same run, as a ratio, and
// writes bench/results.json. `npm run bench -- --quick` for fewer runs; `--only name,name`.
import './tls-cache.mjs'
import { writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import { coldStart, type ProviderBootCase } from './sections/cold-start.js'
import { requestOverhead } from './sections/request-overhead.js'
import { fleetBoot } from './sections/fleet.js'
import { peerComparison } from './sections/peers.js'
import { startupVsSecrets, LATENCY_MS } from './sections/startup.js'
import { startWorld, type CloudName } from './worlds.js'

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, only: { type: 'string' }, providers: { type: 'string' } } })
const clouds = (values.providers?.split(',') ?? ['aws', 'azure', 'gcp']) as CloudName[]
// every secret value and token the fakes issued; the printed output and results.json must hold none
const sensitive: string[] = []
const printed: string[] = []
const print = (text: string): void => { printed.push(text); console.log(text) }
const only = values.only?.split(',')
const want = (name: string): boolean => only === undefined || only.includes(name)
const runs = values.quick === true ? 3 : 5

const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, date: new Date().toISOString() }
const results: Record<string, unknown> = { machine, command: `npm run bench${values.quick === true ? ' -- --quick' : ''}` }
print(`fastify-cloud-secrets benchmarks — ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, Node ${machine.node}\n`)

const SDKS: Record<CloudName, { packages: string[], families: string[] }> = {
  // container credentials (the bench's AWS world) and the startup calls are the plugin's own code: no @aws-sdk package
  aws: { packages: ['@aws-sdk/client-secrets-manager'], families: [] },
  // the bench's Azure world is App Service managed identity: that path, the token and the Key Vault
  // reads are the plugin's own code, so it loads no @azure package (the SDK's import, for reference, in the peers section)
  azure: { packages: [], families: [] },
  // the reads are grpc-js, the token google-auth-library: the Secret Manager client and google-gax load when the app builds the client
  gcp: { packages: ['@google-cloud/secret-manager'], families: ['google-auth-library'] }
}

if (want('startup')) {
  const r = await startupVsSecrets(clouds, { runs: values.quick === true ? 3 : 5, bigRuns: values.quick === true ? 1 : 2 })
  sensitive.push(...r.sensitive)
  results.startup = { latencyMs: LATENCY_MS, summary: r.summary, rows: r.rows }
  print(`## Startup vs secret count (every fake request +${LATENCY_MS} ms; register → ready; baseline = credentials, then one awaited get per secret)\n\n${r.table}`)
}

if (want('peers')) {
  const r = await peerComparison(clouds, { n: 50, latencyMs: LATENCY_MS, runs })
  sensitive.push(...r.sensitive)
  results.peers = { n: 50, latencyMs: LATENCY_MS, connectionMs: 2 * LATENCY_MS, summary: r.summary, rows: r.rows }
  print(`## Ours beside the other systems (N = 50; every fake request +${LATENCY_MS} ms (L), every new TLS connection waits until it is ${2 * LATENCY_MS} ms old (C); fresh process per boot, SDK import included; median of ${runs} alternating boots; beside them, in the same rounds, a fresh process importing just what ours's path loads)\n\n${r.table}`)
}

if (want('fleet')) {
  const r = await fleetBoot()
  sensitive.push(...r.sensitive)
  results.fleet = { setup: r.setup, runs: r.runs }
  print(`## Fleet boot (${r.setup})\n\n${r.table}\n`)
}

if (want('cold-start')) {
  // each cloud boots in a fresh process against its fakes (no added latency here), one secret
  const worlds = await Promise.all(clouds.map(async (c) => await startWorld[c]()))
  const bootCases: ProviderBootCase[] = [
    ...worlds.map((w) => ({ provider: w.provider, env: { ...w.env, CLOUD_SECRETS_PROVIDER: w.provider, CLOUD_SECRETS: `jwtKey=${w.ids[0]}` }, sdks: SDKS[w.provider].packages, families: SDKS[w.provider].families })),
    { provider: 'local', env: { CLOUD_SECRETS_PROVIDER: 'local', CLOUD_SECRETS: 'jwtKey=jwt-signing-key', CLOUD_SECRETS_LOCAL_FILE: 'example-app/secrets.local.json' }, sdks: [], families: [] }
  ]
  let r
  try {
    // more rounds than elsewhere: a boot's CPU beyond its import is a few tens of ms, the VM's jitter as much
    r = await coldStart(bootCases, { runs: values.quick === true ? 5 : 9 })
  } finally {
    for (const w of worlds) sensitive.push(...w.sensitive(), ...w.values.values())
    await Promise.all(worlds.map(async (w) => { await w.close() }))
  }
  results.coldStart = r.rows
  print(`## Cold start and memory (fresh process each, ${values.quick === true ? 5 : 9} rounds, each: bare Fastify, then every app)\n\n${r.table}\n`)
}

if (want('request-overhead')) {
  const r = await requestOverhead({ runs: values.quick === true ? 3 : 11, seconds: 2 })
  results.requestOverhead = { bare: r.bare, plugin: r.plugin, ratio: r.ratio, target: r.target, met: r.met }
  print(`## Per-request cost (autocannon, 10 connections)\n\n${r.table}\n`)
}

const json = JSON.stringify(results, null, 2) + '\n'
const leaked = sensitive.filter((v) => v.length >= 8 && (json.includes(v) || printed.some((line) => line.includes(v))))
if (leaked.length > 0) {
  console.error(`LEAK: ${leaked.length} seeded secret value(s) or token(s) appear in the benchmark output or results; results.json not written`)
  process.exit(1)
}
writeFileSync(new URL('./results.json', import.meta.url), json)
console.log(`leak check: none of the ${sensitive.length} seeded values / issued tokens appear in the output or results.json`)
console.log('wrote bench/results.json')
