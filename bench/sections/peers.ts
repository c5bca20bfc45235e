import { createHash } from 'node:crypto'
import { root, round, runJson, stats, table } from '../lib.js'
import { diff, startWorld, type BenchWorld, type CloudName } from '../worlds.js'

/** the other systems of each cloud, in a fresh process each, on the same fakes as ours */
export const PEERS: Record<CloudName, string[]> = {
  aws: ['seed', 'SDK Promise.all', 'Powertools getSecret Promise.all'],
  azure: ['seed', 'SDK Promise.all'],
  gcp: ['seed', 'SDK Promise.all']
}
/** ours ≤ this × the fastest other system (register → ready, import included) */
export const PEER_TARGET = 0.8

interface Boot { ms: number, count: number, digest: string }
export interface PeerRow {
  provider: CloudName
  system: string
  ms: ReturnType<typeof stats>
  requests: Record<string, number>
  connections: Record<string, number>
}
export interface PeerSummary { provider: CloudName, oursMs: number, fastest: string, fastestMs: number, ratio: number, target: number, met: boolean, ratios: Record<string, number> }

const tlsCache = `${root}bench/tls-cache.mjs`

/**
 * Ours beside every other system, N secrets, each boot a fresh process (SDK import included),
 * alternating the order per round so drift hits every system alike.
 */
export async function peerComparison (providers: CloudName[], { n = 50, latencyMs = 50, runs = 5 } = {}): Promise<{ rows: PeerRow[], summary: PeerSummary[], table: string, sensitive: string[] }> {
  const rows: PeerRow[] = []
  const summary: PeerSummary[] = []
  const sensitive: string[] = []
  const out: string[] = []
  for (const provider of providers) {
    const world = await startWorld[provider]()
    try {
      const ids = world.ids.slice(0, n)
      const expected = createHash('sha256').update(ids.map((id) => world.values.get(id)).join('\u0000')).digest('hex')
      const systems = ['ours', ...PEERS[provider]]
      const boots = new Map<string, Array<Boot & { requests: Record<string, number>, connections: Record<string, number> }>>(systems.map((s) => [s, []]))
      world.setLatency(latencyMs)
      for (let i = 0; i < runs; i++) {
        const order = i % 2 === 0 ? systems : [...systems].reverse()
        for (const system of order) boots.get(system)?.push(await bootOnce(world, provider, system, ids, expected))
      }
      for (const system of systems) {
        const list = boots.get(system) ?? []
        rows.push({ provider, system, ms: stats(list.map((b) => b.ms)), requests: list[0].requests, connections: list[0].connections })
      }
      sensitive.push(...world.sensitive(), ...world.values.values())
    } finally {
      await world.close()
    }
    const mine = rows.filter((r) => r.provider === provider)
    const ours = mine[0].ms.median
    const others = mine.slice(1)
    const fastest = others.reduce((a, b) => (b.ms.median < a.ms.median ? b : a))
    const ratio = ours / fastest.ms.median
    summary.push({ provider, oursMs: round(ours), fastest: fastest.system, fastestMs: round(fastest.ms.median), ratio: round(ratio, 2), target: PEER_TARGET, met: ratio <= PEER_TARGET, ratios: Object.fromEntries(others.map((r) => [r.system, round(ours / r.ms.median, 2)])) })
    out.push(`### ${provider}\n`)
    out.push(table(['system', 'ms (min/med/max)', 'runs', 'ours / it', 'requests per boot', 'TLS connections per boot'],
      mine.map((r) => [r.system, `${round(r.ms.min, 0)} / ${round(r.ms.median, 0)} / ${round(r.ms.max, 0)}`, r.ms.runs, r.system === 'ours' ? '—' : `${round(ours / r.ms.median, 2)}`, fmt(r.requests), fmt(r.connections)])))
    out.push('', `ours / fastest other system (${fastest.system}) = ${round(ratio, 2)} (target ≤ ${PEER_TARGET}: ${ratio <= PEER_TARGET ? 'met' : 'MISSED'})`, '')
  }
  return { rows, summary, table: out.join('\n'), sensitive }
}

async function bootOnce (world: BenchWorld, provider: CloudName, system: string, ids: string[], expected: string): Promise<Boot & { requests: Record<string, number>, connections: Record<string, number> }> {
  const before = world.counts()
  const connectionsBefore = world.connections()
  const boot = await runJson<Boot>(['--import', tlsCache, 'bench/apps/peer-boot.mjs', provider, system, ...ids], { ...world.env, CLOUD_SECRETS_PROVIDER: undefined, CLOUD_SECRETS: undefined })
  if (boot.count !== ids.length || boot.digest !== expected) throw new Error(`${provider} ${system}: read ${boot.count} of ${ids.length} values, or not the seeded ones`)
  return { ...boot, requests: diff(world.counts(), before), connections: diff(world.connections(), connectionsBefore) }
}

function fmt (counts: Record<string, number>): string {
  return Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'
}
