import Fastify, { type FastifyInstance } from 'fastify'
import { performance } from 'node:perf_hooks'
import cloudSecrets from '../../dist/index.js'
import { round, stats, table } from '../lib.js'
import { applyEnv, diff, startWorld, type BenchWorld, type CloudName } from '../worlds.js'

export const LATENCY_MS = 50
const TARGET_MULTIPLE: Record<CloudName, number> = { aws: 3, azure: 4, gcp: 4 }
const TARGET_SPEEDUP = 10

export interface PluginBoot { ms: number, counts: Record<string, number>, connections: Record<string, number>, tokens: number }

/** register → ready of one app with the first `n` secrets of the world; checks every value. */
export async function bootPlugin (world: BenchWorld, n: number, extra: Record<PropertyKey, unknown> = {}): Promise<PluginBoot & { app: FastifyInstance }> {
  const ids = world.ids.slice(0, n)
  const secrets = Object.fromEntries(ids.map((id, i) => [`s${i}`, id]))
  const before = world.counts()
  const connectionsBefore = world.connections()
  const app = Fastify({ logger: false, pluginTimeout: 120_000 })
  const started = performance.now()
  await app.register(cloudSecrets, { provider: world.provider, secrets, timeoutMs: 60_000, ...extra })
  await app.ready()
  const ms = performance.now() - started
  const counts = diff(world.counts(), before)
  const connections = diff(world.connections(), connectionsBefore)
  ids.forEach((id, i) => {
    if ((app.secrets as Record<string, string | undefined>)[`s${i}`] !== world.values.get(id)) throw new Error(`${world.provider}: secret s${i} did not load its seeded value`)
  })
  return { app, ms, counts, connections, tokens: world.tokenKinds.reduce((sum, k) => sum + (counts[k] ?? 0), 0) }
}

interface BaselineBoot { ms: number, counts: Record<string, number>, connections: Record<string, number> }

async function bootBaseline (world: BenchWorld, n: number): Promise<BaselineBoot> {
  const before = world.counts()
  const connectionsBefore = world.connections()
  const started = performance.now()
  await world.baseline(world.ids.slice(0, n))
  return { ms: performance.now() - started, counts: diff(world.counts(), before), connections: diff(world.connections(), connectionsBefore) }
}

export interface StartupRow {
  provider: CloudName
  n: number
  plugin: ReturnType<typeof stats>
  baseline: ReturnType<typeof stats>
  pluginRequests: Record<string, number>
  baselineRequests: Record<string, number>
  /** TLS connections per boot by host (HTTP/2 sessions count once), of the first boot */
  pluginConnections: Record<string, number>
  baselineConnections: Record<string, number>
  /** connections to the secret store's host, every plugin boot */
  storeConnectionsPerBoot: number[]
  tokensPerBoot: number[]
}

export interface StartupSummary {
  provider: CloudName
  identityPath: string
  afterCredentialsMs: number
  multiple: number
  targetMultiple: number
  baselineAfterCredentialsMs: number
  speedupAfterCredentials: number
  speedupTotal: number
  oneTokenPerBoot: boolean
  storeHost: string
  /** the most connections one plugin boot opened to the store's host, at N = 50 and at the largest N */
  storeConnectionsAt50: number
  storeConnectionsAtMax: number
  maxN: number
  /** T(maxN) − T(0) of the plugin over the latency: round trips after the credentials, CPU included */
  roundTripsAtMax: number
  met: boolean
}

/**
 * Register → ready against fakes that add LATENCY_MS to every request, for N secrets, beside
 * the seed documents' pattern (credentials, then one awaited get per secret) in the same run.
 */
export async function startupVsSecrets (providers: CloudName[], { runs = 5, bigRuns = 2, sizes = [0, 1, 10, 50, 200] } = {}): Promise<{ rows: StartupRow[], summary: StartupSummary[], table: string, sensitive: string[] }> {
  const rows: StartupRow[] = []
  const summary: StartupSummary[] = []
  const sensitive: string[] = []
  const out: string[] = []
  for (const provider of providers) {
    const world = await startWorld[provider]()
    const restore = applyEnv(world.env)
    try {
      // warm-up: SDK modules loaded, TLS and JIT warm, no latency
      world.setLatency(0)
      await (await bootPlugin(world, 1)).app.close()
      await bootBaseline(world, 1)
      world.setLatency(LATENCY_MS)
      for (const n of sizes) {
        const count = n >= 200 ? bigRuns : runs
        const plugin: PluginBoot[] = []
        const baseline: BaselineBoot[] = []
        for (let i = 0; i < count; i++) {
          // alternate which side goes first, so drift hits both alike
          for (const side of i % 2 === 0 ? ['plugin', 'baseline'] : ['baseline', 'plugin']) {
            if (side === 'plugin') {
              const boot = await bootPlugin(world, n)
              await boot.app.close()
              plugin.push({ ms: boot.ms, counts: boot.counts, connections: boot.connections, tokens: boot.tokens })
            } else {
              baseline.push(await bootBaseline(world, n))
            }
          }
        }
        rows.push({ provider, n, plugin: stats(plugin.map((b) => b.ms)), baseline: stats(baseline.map((b) => b.ms)), pluginRequests: plugin[0].counts, baselineRequests: baseline[0].counts, pluginConnections: plugin[0].connections, baselineConnections: baseline[0].connections, storeConnectionsPerBoot: plugin.map((b) => b.connections[world.storeHost] ?? 0), tokensPerBoot: plugin.map((b) => b.tokens) })
      }
      sensitive.push(...world.sensitive(), ...world.values.values())
    } finally {
      restore()
      await world.close()
    }
    const mine = rows.filter((r) => r.provider === provider)
    const zero = mine.find((r) => r.n === 0) as StartupRow
    const at50 = mine.find((r) => r.n === 50) as StartupRow
    const after = at50.plugin.median - zero.plugin.median
    const baseAfter = at50.baseline.median - zero.baseline.median
    const oneToken = mine.every((r) => r.tokensPerBoot.every((t) => t === 1))
    const biggest = mine.reduce((a, b) => (b.n > a.n ? b : a))
    const mostStore = (r: StartupRow): number => Math.max(...r.storeConnectionsPerBoot)
    const s: StartupSummary = {
      provider,
      identityPath: world.identityPath,
      afterCredentialsMs: round(after),
      multiple: round(after / LATENCY_MS, 2),
      targetMultiple: TARGET_MULTIPLE[provider],
      baselineAfterCredentialsMs: round(baseAfter),
      speedupAfterCredentials: round(baseAfter / after, 1),
      speedupTotal: round(at50.baseline.median / at50.plugin.median, 1),
      oneTokenPerBoot: oneToken,
      storeHost: world.storeHost,
      storeConnectionsAt50: mostStore(at50),
      storeConnectionsAtMax: mostStore(biggest),
      maxN: biggest.n,
      roundTripsAtMax: round((biggest.plugin.median - zero.plugin.median) / LATENCY_MS, 2),
      met: after / LATENCY_MS <= TARGET_MULTIPLE[provider] && baseAfter / after >= TARGET_SPEEDUP && oneToken
    }
    summary.push(s)
    out.push(`### ${provider} — identity: ${world.identityPath}\n`)
    out.push(table(['N', 'plugin ms (min/med/max)', 'baseline ms (min/med/max)', 'runs', 'baseline / plugin', 'plugin requests', 'plugin connections', 'baseline requests', 'baseline connections'],
      mine.map((r) => [r.n, `${round(r.plugin.min, 0)} / ${round(r.plugin.median, 0)} / ${round(r.plugin.max, 0)}`, `${round(r.baseline.min, 0)} / ${round(r.baseline.median, 0)} / ${round(r.baseline.max, 0)}`, r.plugin.runs,
        `${round(r.baseline.median / r.plugin.median, 1)}×`, fmtCounts(r.pluginRequests), fmtCounts(r.pluginConnections), fmtCounts(r.baselineRequests), fmtCounts(r.baselineConnections)])))
    out.push('', `N = 50, after the credentials are in hand: plugin T(50) − T(0) = ${s.afterCredentialsMs} ms = ${s.multiple} × the ${LATENCY_MS} ms latency (target ≤ ${s.targetMultiple} ×: ${s.multiple <= s.targetMultiple ? 'met' : 'MISSED'});` +
      ` baseline ${s.baselineAfterCredentialsMs} ms → plugin ${s.speedupAfterCredentials} × faster (target ≥ ${TARGET_SPEEDUP} ×: ${s.speedupAfterCredentials >= TARGET_SPEEDUP ? 'met' : 'MISSED'}; whole boot incl. credentials ${s.speedupTotal} ×).` +
      ` Token / credential acquisitions per plugin boot: ${[...new Set(mine.flatMap((r) => r.tokensPerBoot))].join(', ')} (${oneToken ? 'exactly one: met' : 'NOT exactly one: MISSED'}).`, '')
    out.push(`N = ${s.maxN}: plugin T(${s.maxN}) − T(0) = ${s.roundTripsAtMax} × the latency; connections per boot to ${s.storeHost}: ${s.storeConnectionsAtMax} (N = 50: ${s.storeConnectionsAt50}; most of any boot, HTTP/2 sessions count once).`, '')
  }
  return { rows, summary, table: out.join('\n'), sensitive }
}

function fmtCounts (counts: Record<string, number>): string {
  return Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'
}
