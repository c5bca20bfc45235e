import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { recorder, root, round, runJson, stats, table } from '../lib.js'
import { diff, startWorld, type BenchWorld, type CloudName } from '../worlds.js'

/** the other systems of each cloud, in a fresh process each, on the same fakes as ours */
export const PEERS: Record<CloudName, string[]> = {
  aws: ['seed', 'SDK Promise.all', 'Powertools getSecret Promise.all'],
  azure: ['seed', 'SDK Promise.all'],
  gcp: ['seed', 'SDK Promise.all']
}
/** the package a peer needs beyond its cloud's SDK (a devDependency); a peer whose package is not installed is skipped, and said so */
const PEER_PACKAGES: Record<string, string> = { 'Powertools getSecret Promise.all': '@aws-lambda-powertools/parameters' }
const installed = (system: string): boolean => PEER_PACKAGES[system] === undefined || existsSync(join(root, 'node_modules', PEER_PACKAGES[system], 'package.json'))

/** ours ≤ this × the fastest other system (register → ready, import included) */
export const PEER_TARGET = 0.8
/** ours − the import of its path ≤ this × the floor */
export const FLOOR_TARGET = 1.3

/**
 * The floor of one boot on the fakes' model: every request L, a new connection usable once it is
 * C old (C = 2 L by default; an HTTP/2 session pays once). The credential step and the store's
 * connection (and on Azure the challenge, which needs the connection) overlap; then one read.
 */
export const FLOOR: Record<CloudName, { formula: string, ms: (l: number, c: number) => number }> = {
  aws: { formula: 'max(credentials 1 L, connect C) + read 1 L', ms: (l, c) => Math.max(l, c) + l },
  azure: { formula: 'max(token 1 L, connect C + challenge 1 L) + read 1 L', ms: (l, c) => Math.max(l, c + l) + l },
  gcp: { formula: 'max(metadata 1 L, connect C) + read 1 L', ms: (l, c) => Math.max(l, c) + l }
}

interface Boot { ms: number, count: number, digest: string }
export interface PeerRow {
  provider: CloudName
  system: string
  ms: ReturnType<typeof stats>
  requests: Record<string, number>
  connections: Record<string, number>
}
export interface PeerSummary {
  provider: CloudName
  oursMs: number
  fastest: string
  fastestMs: number
  /** ours / the fastest other system, against `target` */
  ratio: number
  target: number
  met: boolean
  ratios: Record<string, number>
  /** peers left out because their package is not installed */
  skipped: string[]
  /** the import of what ours's path loads, in a fresh process, and how many modules that is */
  importMs: ReturnType<typeof stats>
  importModules: number
  /** ours − import (medians), against `floorTarget` × the floor */
  oursMinusImportMs: number
  floorFormula: string
  floorMs: number
  /** (ours − import) / floor */
  floorMultiple: number
  floorTarget: number
  floorMet: boolean
  /** ours − import − floor */
  distanceToFloorMs: number
}

const tlsCache = `${root}bench/tls-cache.mjs`

/**
 * Ours beside every other system, N secrets, each boot a fresh process (SDK import included),
 * alternating the order per round so drift hits every system alike.
 */
export async function peerComparison (providers: CloudName[], { n = 50, latencyMs = 50, connectionMs = 2 * latencyMs, runs = 5 }: { n?: number, latencyMs?: number, connectionMs?: number, runs?: number } = {}): Promise<{ rows: PeerRow[], summary: PeerSummary[], table: string, sensitive: string[] }> {
  const rows: PeerRow[] = []
  const summary: PeerSummary[] = []
  const sensitive: string[] = []
  const out: string[] = []
  const importsOf = new Map<CloudName, { ms: ReturnType<typeof stats>, modules: number }>()
  const tmp = mkdtempSync(join(tmpdir(), 'fcs-bench-path-'))
  for (const provider of providers) {
    const world = await startWorld[provider]()
    try {
      const ids = world.ids.slice(0, n)
      const expected = createHash('sha256').update(ids.map((id) => world.values.get(id)).join('\u0000')).digest('hex')
      const systems = ['ours', ...PEERS[provider].filter(installed)]
      const boots = new Map<string, Array<Boot & { requests: Record<string, number>, connections: Record<string, number> }>>(systems.map((s) => [s, []]))
      world.setLatency(latencyMs, connectionMs)
      // what ours's path loads inside its clock: one recorded boot (not timed), then a fresh
      // process per round loads just that, among the boots
      const modules = join(tmp, `${provider}.json`)
      await bootOnce(world, provider, 'ours', ids, expected, { recordTo: modules })
      const imports: PathImport[] = []
      for (let i = 0; i < runs; i++) {
        const turn = [...systems, IMPORT]
        for (const system of i % 2 === 0 ? turn : turn.reverse()) {
          if (system === IMPORT) imports.push(await importPath(modules))
          else boots.get(system)?.push(await bootOnce(world, provider, system, ids, expected))
        }
      }
      importsOf.set(provider, { ms: stats(imports.map((x) => x.importMs)), modules: imports[0].modules })
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
    const imported = importsOf.get(provider) as { ms: ReturnType<typeof stats>, modules: number }
    const floorMs = FLOOR[provider].ms(latencyMs, connectionMs)
    const net = ours - imported.ms.median
    const s: PeerSummary = {
      provider,
      oursMs: round(ours),
      fastest: fastest.system,
      fastestMs: round(fastest.ms.median),
      ratio: round(ratio, 2),
      target: PEER_TARGET,
      met: ratio <= PEER_TARGET,
      ratios: Object.fromEntries(others.map((r) => [r.system, round(ours / r.ms.median, 2)])),
      skipped: PEERS[provider].filter((system) => !installed(system)),
      importMs: imported.ms,
      importModules: imported.modules,
      oursMinusImportMs: round(net),
      floorFormula: FLOOR[provider].formula,
      floorMs,
      floorMultiple: round(net / floorMs, 2),
      floorTarget: FLOOR_TARGET,
      floorMet: net <= FLOOR_TARGET * floorMs,
      distanceToFloorMs: round(net - floorMs)
    }
    summary.push(s)
    out.push(`### ${provider}\n`)
    out.push(table(['system', 'ms (min/med/max)', 'runs', 'ours / it', 'requests per boot', 'TLS connections per boot'],
      mine.map((r) => [r.system, `${round(r.ms.min, 0)} / ${round(r.ms.median, 0)} / ${round(r.ms.max, 0)}`, r.ms.runs, r.system === 'ours' ? '—' : `${round(ours / r.ms.median, 2)}`, fmt(r.requests), fmt(r.connections)])))
    for (const system of s.skipped) out.push('', `${system}: SKIPPED, ${PEER_PACKAGES[system]} is not installed (a devDependency: npm install)`)
    out.push('', `ours / fastest other system (${fastest.system}) = ${s.ratio} (target ≤ ${PEER_TARGET}: ${s.met ? 'met' : 'MISSED'})`,
      `import of what ours's path loads (${imported.modules} modules, fresh process, min/med/max of ${imported.ms.runs}): ${round(imported.ms.min, 0)} / ${round(imported.ms.median, 0)} / ${round(imported.ms.max, 0)} ms; ` +
      `ours − import = ${s.oursMinusImportMs} ms = ${s.floorMultiple} × the floor, ${FLOOR[provider].formula} = ${floorMs} ms (target ≤ ${FLOOR_TARGET} × = ${round(FLOOR_TARGET * floorMs)} ms: ${s.floorMet ? 'met' : 'MISSED'}; distance to the floor ${s.distanceToFloorMs >= 0 ? '+' : ''}${s.distanceToFloorMs} ms)`, '')
  }
  rmSync(tmp, { recursive: true, force: true })
  out.push(`### Targets (N = ${n}, L = ${latencyMs} ms, C = ${connectionMs} ms, medians)\n`)
  out.push(table(['cloud', 'ours ms', 'import ms', 'ours − import ms', 'floor', 'floor ms', '(ours − import) / floor', `≤ ${FLOOR_TARGET} × floor`, 'fastest other (ms)', 'ours / fastest other', `≤ ${PEER_TARGET} ×`],
    summary.map((s) => [s.provider, s.oursMs, round(s.importMs.median), s.oursMinusImportMs, s.floorFormula, s.floorMs, s.floorMultiple, s.floorMet ? 'met' : 'MISSED', `${s.fastest} (${s.fastestMs})${s.skipped.length > 0 ? `; not run: ${s.skipped.join(', ')}` : ''}`, s.ratio, s.met ? 'met' : 'MISSED'])))
  out.push('')
  return { rows, summary, table: out.join('\n'), sensitive }
}

const IMPORT = 'import of ours\'s path'
interface PathImport { importMs: number, modules: number, failed: number }

/** loads, in a fresh process, the modules a recorded boot of ours loaded inside its clock */
async function importPath (modules: string): Promise<PathImport> {
  const r = await runJson<PathImport>(['--import', tlsCache, 'bench/apps/import-path.mjs', modules])
  if (r.failed > 0) throw new Error(`import-path: ${r.failed} of ${r.modules} recorded modules did not load`)
  return r
}

async function bootOnce (world: BenchWorld, provider: CloudName, system: string, ids: string[], expected: string, { recordTo }: { recordTo?: string } = {}): Promise<Boot & { requests: Record<string, number>, connections: Record<string, number> }> {
  const before = world.counts()
  const connectionsBefore = world.connections()
  // recordTo: record what the boot loads inside its clock (under the module recorder, so not a timed boot)
  const record = recordTo === undefined ? [] : ['--import', recorder]
  const boot = await runJson<Boot>(['--import', tlsCache, ...record, 'bench/apps/peer-boot.mjs', provider, system, ...ids], { ...world.env, CLOUD_SECRETS_PROVIDER: undefined, CLOUD_SECRETS: undefined, PEER_BOOT_MODULES: recordTo })
  if (boot.count !== ids.length || boot.digest !== expected) throw new Error(`${provider} ${system}: read ${boot.count} of ${ids.length} values, or not the seeded ones`)
  return { ...boot, requests: diff(world.counts(), before), connections: diff(world.connections(), connectionsBefore) }
}

function fmt (counts: Record<string, number>): string {
  return Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'
}
