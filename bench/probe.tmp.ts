import './tls-cache.mjs'
import { runJson, root } from './lib.js'
import { startWorld, type CloudName } from './worlds.js'
const cloud = (process.argv[2] ?? 'aws') as CloudName
const lat = Number(process.argv[3] ?? 0)
const systems = (process.argv[4] ?? 'ours,SDK Promise.all').split(',')
const w = await startWorld[cloud]()
w.setLatency(lat)
const ids = w.ids.slice(0, 50)
for (let i = 0; i < 3; i++) {
  for (const s of systems) {
    const env = { ...w.env, ...(process.env.PROF ? { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --cpu-prof --cpu-prof-dir=/tmp/perf-prof` } : {}) }
    const r = await runJson<{ ms: number }>(['--import', `${root}bench/tls-cache.mjs`, 'bench/apps/peer-boot.mjs', cloud, s, ...ids], env)
    console.log(s, Math.round(r.ms))
  }
}
await w.close()
