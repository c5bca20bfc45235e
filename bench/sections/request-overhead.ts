import autocannon from 'autocannon'
import { round, startServer, stats, table } from '../lib.js'

export interface RequestOverheadResult {
  bare: ReturnType<typeof stats>
  plugin: ReturnType<typeof stats>
  ratio: number
  target: number
  met: boolean
  table: string
}

async function measure (port: number, seconds: number): Promise<number> {
  const result = await autocannon({ url: `http://127.0.0.1:${port}/`, connections: 10, duration: seconds })
  return result.requests.average
}

/**
 * Throughput of a bare Fastify route vs the same route with the plugin registered and
 * request.cloud read in the handler. Both servers run for the whole section (started and warmed
 * once, so a process's JIT luck is not counted as a difference), and the measurements alternate
 * between them (bare first, then plugin first) so drift of the machine hits both sides alike.
 */
export async function requestOverhead ({ runs = 7, seconds = 3 } = {}): Promise<RequestOverheadResult> {
  const bare: number[] = []
  const plugin: number[] = []
  const servers = { bare: await startServer(['bench/apps/server.mjs', 'bare']), plugin: await startServer(['bench/apps/server.mjs', 'plugin']) }
  try {
    for (const server of [servers.bare, servers.plugin, servers.bare, servers.plugin]) await measure(server.port, 1) // warm-up
    for (let i = 0; i < runs; i++) {
      const order = i % 2 === 0 ? (['bare', 'plugin'] as const) : (['plugin', 'bare'] as const)
      for (const mode of order) (mode === 'bare' ? bare : plugin).push(await measure(servers[mode].port, seconds))
    }
  } finally {
    await Promise.all([servers.bare.stop(), servers.plugin.stop()])
  }
  const b = stats(bare)
  const p = stats(plugin)
  // the headline ratio: each run's plugin figure over the bare figure measured right beside it,
  // median over the runs (robust to the machine drifting during the section)
  const pairs = stats(plugin.map((rps, i) => rps / bare[i]))
  const ratio = round(pairs.median, 3)
  return {
    bare: b,
    plugin: p,
    ratio,
    target: 0.97,
    met: ratio >= 0.97,
    table: table(['app', 'req/s min', 'req/s median', 'req/s max', 'runs'], [
      ['bare Fastify', round(b.min, 0), round(b.median, 0), round(b.max, 0), b.runs],
      ['+ plugin, request.cloud read', round(p.min, 0), round(p.median, 0), round(p.max, 0), p.runs],
      ['ratio of the medians', '', round(p.median / b.median, 3), '', ''],
      ['ratio per run (plugin / bare beside it)', round(pairs.min, 3), `${ratio} (target ≥ 0.97)`, round(pairs.max, 3), pairs.runs]
    ])
  }
}
