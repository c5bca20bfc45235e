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
 * request.cloud read in the handler. Runs alternate (bare first, then plugin first) so drift
 * of the machine hits both sides alike.
 */
export async function requestOverhead ({ runs = 5, seconds = 3 } = {}): Promise<RequestOverheadResult> {
  const bare: number[] = []
  const plugin: number[] = []
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? ['bare', 'plugin'] : ['plugin', 'bare']
    for (const mode of order) {
      const server = await startServer(['bench/apps/server.mjs', mode])
      await measure(server.port, 1) // warm-up
      const rps = await measure(server.port, seconds)
      await server.stop()
      ;(mode === 'bare' ? bare : plugin).push(rps)
    }
  }
  const b = stats(bare)
  const p = stats(plugin)
  const ratio = round(p.median / b.median, 3)
  return {
    bare: b,
    plugin: p,
    ratio,
    target: 0.97,
    met: ratio >= 0.97,
    table: table(['app', 'req/s min', 'req/s median', 'req/s max', 'runs'], [
      ['bare Fastify', round(b.min, 0), round(b.median, 0), round(b.max, 0), b.runs],
      ['+ plugin, request.cloud read', round(p.min, 0), round(p.median, 0), round(p.max, 0), p.runs],
      ['ratio (median plugin / bare)', '', `${ratio} (target ≥ 0.97)`, '', '']
    ])
  }
}
