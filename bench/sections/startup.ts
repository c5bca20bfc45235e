import Fastify, { type FastifyInstance } from 'fastify'
import { performance } from 'node:perf_hooks'
import cloudSecrets from '../../dist/index.js'
import { round, stats, table } from '../lib.js'
import { applyEnv, diff, startWorld, type BenchWorld, type CloudName } from '../worlds.js'

export const LATENCY_MS = 50
const TARGET_MULTIPLE: Record<CloudName, number> = { aws: 3, azure: 4, gcp: 4 }
const TARGET_SPEEDUP = 10

export interface PluginBoot { ms: number, counts: Record<string, number>, tokens: number }

/** register → ready of one app with the first `n` secrets of the world; checks every value. */
export async function bootPlugin (world: BenchWorld, n: number, extra: Record<PropertyKey, unknown> = {}): Promise<PluginBoot & { app: FastifyInstance }> {
  const ids = world.ids.slice(0, n)
  const secrets = Object.fromEntries(ids.map((id, i) => [`s${i}`, id]))
  const before = world.counts()
  const app = Fastify({ logger: false, pluginTimeout: 120_000 })
  const started = performance.now()
  await app.register(cloudSecrets, { provider: world.provider, secrets, timeoutMs: 60_000, ...extra })
  await app.ready()
  const ms = performance.now() - started
  const counts = diff(world.counts(), before)
  ids.forEach((id, i) => {
    if ((app.secrets as Record<string, string | undefined>)[`s${i}`] !== world.values.get(id)) throw new Error(`${world.provider}: secret s${i} did not load its seeded value`)
  })
  return { app, ms, counts, tokens: world.tokenKinds.reduce((sum, k) => sum + (counts[k] ?? 0), 0) }
}

async function bootBaseline (world: BenchWorld, n: number): Promise<{ ms: number, counts: Record<string, number> }> {
  const before = world.counts()
  const started = performance.now()
  await world.baseline(world.ids.slice(0, n))
  return { ms: performance.now() - started, counts: diff(world.counts(), before) }
}

export interface StartupRow {
  provider: CloudName
  n: number
  plugin: ReturnType<typeof stats>
  baseline: ReturnType<typeof stats>
  pluginRequests: Record<string, number>
  baselineRequests: Record<string, number>
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
        const baseline: Array<{ ms: number, counts: Record<string, number> }> = []
        for (let i = 0; i < count; i++) {
          // alternate which side goes first, so drift hits both alike
          for (const side of i % 2 === 0 ? ['plugin', 'baseline'] : ['baseline', 'plugin']) {
            if (side === 'plugin') {
              const boot = await bootPlugin(world, n)
              await boot.app.close()
              plugin.push({ ms: boot.ms, counts: boot.counts, tokens: boot.tokens })
            } else {
              baseline.push(await bootBaseline(world, n))
            }
          }
        }
        rows.push({ provider, n, plugin: stats(plugin.map((b) => b.ms)), baseline: stats(baseline.map((b) => b.ms)), pluginRequests: plugin[0].counts, baselineRequests: baseline[0].counts, tokensPerBoot: plugin.map((b) => b.tokens) })
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
      met: after / LATENCY_MS <= TARGET_MULTIPLE[provider] && baseAfter / after >= TARGET_SPEEDUP && oneToken
    }
    summary.push(s)
    out.push(`### ${provider} — identity: ${world.identityPath}\n`)
    out.push(table(['N', 'plugin ms (min/med/max)', 'baseline ms (min/med/max)', 'runs', 'baseline / plugin', 'plugin requests', 'baseline requests'],
      mine.map((r) => [r.n, `${round(r.plugin.min, 0)} / ${round(r.plugin.median, 0)} / ${round(r.plugin.max, 0)}`, `${round(r.baseline.min, 0)} / ${round(r.baseline.median, 0)} / ${round(r.baseline.max, 0)}`, r.plugin.runs,
        `${round(r.baseline.median / r.plugin.median, 1)}×`, fmtCounts(r.pluginRequests), fmtCounts(r.baselineRequests)])))
    out.push('', `N = 50, after the credentials are in hand: plugin T(50) − T(0) = ${s.afterCredentialsMs} ms = ${s.multiple} × the ${LATENCY_MS} ms latency (target ≤ ${s.targetMultiple} ×: ${s.multiple <= s.targetMultiple ? 'met' : 'MISSED'});` +
      ` baseline ${s.baselineAfterCredentialsMs} ms → plugin ${s.speedupAfterCredentials} × faster (target ≥ ${TARGET_SPEEDUP} ×: ${s.speedupAfterCredentials >= TARGET_SPEEDUP ? 'met' : 'MISSED'}; whole boot incl. credentials ${s.speedupTotal} ×).` +
      ` Token / credential acquisitions per plugin boot: ${[...new Set(mine.flatMap((r) => r.tokensPerBoot))].join(', ')} (${oneToken ? 'exactly one: met' : 'NOT exactly one: MISSED'}).`, '')
  }
  return { rows, summary, table: out.join('\n'), sensitive }
}

function fmtCounts (counts: Record<string, number>): string {
  return Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'
}
