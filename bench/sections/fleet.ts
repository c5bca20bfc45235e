import Fastify, { type FastifyInstance } from 'fastify'
import { performance } from 'node:perf_hooks'
import cloudSecrets from '../../dist/index.js'
import { kInternal } from '../../dist/plugin.js'
import { round, table } from '../lib.js'
import { applyEnv, startAzureBenchWorld } from '../worlds.js'

export interface FleetRun {
  mode: string
  instances: number
  started: number
  failed: number
  failureCodes: Record<string, number>
  bootMs: { p50: number, p99: number, max: number }
  requests: Record<string, number>
  wallMs: number
}

function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)]
}

/**
 * `instances` apps of one service booting at the same moment against one Key Vault that allows
 * `perSecond` authenticated requests (token bucket, burst `burst`) and answers 429 +
 * Retry-After above it: with the plugin's jittered retries, then with retries disabled.
 */
export async function fleetBoot ({ instances = 200, secretsPerApp = 2, perSecond = 100, burst = 50, retryAfterS = 1, timeoutMs = 15_000 } = {}): Promise<{ runs: FleetRun[], table: string, sensitive: string[], setup: string }> {
  const world = await startAzureBenchWorld()
  const restore = applyEnv(world.env)
  const secrets = Object.fromEntries(world.ids.slice(0, secretsPerApp).map((id, i) => [`s${i}`, id]))
  const limit = world.limit as NonNullable<typeof world.limit>
  const runs: FleetRun[] = []
  try {
    // warm-up: one app, no limit
    const warm = Fastify({ logger: false })
    await warm.register(cloudSecrets, { provider: 'azure', secrets })
    await warm.close()
    for (const mode of ['jittered retries (default)', 'retries disabled (maxAttempts 1)']) {
      limit({ perSecond, burst, retryAfterS })
      const before = world.counts()
      const internal = mode.startsWith('retries disabled') ? { [kInternal]: { retry: { maxAttempts: 1 } } } : {}
      const apps: FastifyInstance[] = []
      const t0 = performance.now()
      const outcomes = await Promise.all(Array.from({ length: instances }, async () => {
        const app = Fastify({ logger: false, pluginTimeout: timeoutMs + 5000 })
        apps.push(app)
        try {
          await app.register(cloudSecrets, { provider: 'azure', secrets, timeoutMs, ...internal })
          await app.ready()
          return { ok: true, ms: performance.now() - t0 }
        } catch (err) {
          return { ok: false, ms: performance.now() - t0, code: String((err as { code?: string }).code) }
        }
      }))
      const wallMs = performance.now() - t0
      await Promise.all(apps.map(async (a) => { await a.close().catch(() => {}) }))
      const ok = outcomes.filter((o) => o.ok).map((o) => o.ms).sort((a, b) => a - b)
      const failureCodes: Record<string, number> = {}
      for (const o of outcomes) if (!o.ok) failureCodes[o.code as string] = (failureCodes[o.code as string] ?? 0) + 1
      const after = world.counts()
      runs.push({
        mode,
        instances,
        started: ok.length,
        failed: instances - ok.length,
        failureCodes,
        bootMs: { p50: round(percentile(ok, 50), 0), p99: round(percentile(ok, 99), 0), max: round(ok.at(-1) ?? Number.NaN, 0) },
        requests: Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)])),
        wallMs: round(wallMs, 0)
      })
      limit(undefined)
      await new Promise((resolve) => setTimeout(resolve, 1500)) // let the bucket refill
    }
  } finally {
    restore()
    await world.close()
  }
  const setup = `${instances} instances × ${secretsPerApp} secrets at once, one vault allowing ${perSecond} authenticated requests/s (burst ${burst}; above it 429 + Retry-After: ${retryAfterS}), startup deadline ${timeoutMs / 1000} s, identity: App Service managed identity`
  return {
    runs,
    setup,
    sensitive: [...world.sensitive(), ...world.values.values()],
    table: table(['mode', 'started', 'failed (codes)', 'boot p50 ms', 'boot p99 ms', 'slowest ms', 'Key Vault GETs (429s)', 'challenge 401s', 'MI tokens', 'all requests'],
      runs.map((r) => [r.mode, `${r.started}/${r.instances}`, r.failed === 0 ? '0' : `${r.failed} (${Object.entries(r.failureCodes).map(([c, n]) => `${c.replace('FST_CLOUD_SECRETS_', '')} ${n}`).join(', ')})`,
        r.bootMs.p50, r.bootMs.p99, r.bootMs.max, `${r.requests['Key Vault GET secret'] + r.requests['Key Vault 429']} (${r.requests['Key Vault 429']})`, r.requests['Key Vault GET (challenge 401)'], r.requests['MI token'],
        Object.values(r.requests).reduce((a, b) => a + b, 0)]))
  }
}
