import { recorder, root, round, runJson, stats, table } from '../lib.js'

interface Boot { mode: string, provider: string, error?: string, secrets: number, processStartToReadyMs: number, importMs: number, registerToReadyMs: number, rssMb: number, sdksLoaded: string[] }
const tlsCache = `${root}bench/tls-cache.mjs`

interface SdkImport { importMs: number, sdksLoaded: string[] }

export interface ProviderBootCase {
  provider: string
  /** env that makes this provider boot against the bench's fakes (empty for local) */
  env: Record<string, string | undefined>
  /** the SDK packages of this provider, imported alone to show their own cost */
  sdks: string[]
  /** the SDK families a boot must load (and no other) */
  families: string[]
}

export interface ColdStartRow { provider: string, readyMs: ReturnType<typeof stats>, sdkImportMs?: ReturnType<typeof stats>, rssMb: ReturnType<typeof stats>, sdksLoaded: string[] }

/**
 * Process start → ready, per provider, beside bare Fastify and beside the SDK's own import time;
 * RSS after ready. Each boot is a fresh process.
 */
export async function coldStart (cases: ProviderBootCase[], { runs = 5 } = {}): Promise<{ rows: ColdStartRow[], table: string }> {
  const rows: ColdStartRow[] = []
  // the loopback guard comes through NODE_OPTIONS; tls-cache keeps its per-connection trust store out of the timings
  const boot = ['--expose-gc', '--import', tlsCache, '--import', recorder, 'bench/apps/boot.mjs']
  const bare: Boot[] = []
  for (let i = 0; i < runs; i++) bare.push(await runJson<Boot>([...boot, 'bare']))
  rows.push({ provider: 'bare Fastify', readyMs: stats(bare.map((b) => b.processStartToReadyMs)), rssMb: stats(bare.map((b) => b.rssMb)), sdksLoaded: [] })
  for (const c of cases) {
    const boots: Boot[] = []
    const imports: SdkImport[] = []
    for (let i = 0; i < runs; i++) {
      const b = await runJson<Boot>([...boot, 'plugin'], c.env)
      if (b.error !== undefined || b.provider !== c.provider || b.secrets !== 1) throw new Error(`cold start of ${c.provider} did not boot with its secret: ${b.error ?? b.provider}`)
      if (b.sdksLoaded.join(' ') !== c.families.join(' ')) throw new Error(`cold start of ${c.provider} loaded SDK families ${b.sdksLoaded.join(', ')}; expected ${c.families.join(', ')}`)
      boots.push(b)
      if (c.sdks.length > 0) imports.push(await runJson<SdkImport>(['--import', recorder, 'bench/apps/import-sdk.mjs', ...c.sdks]))
    }
    rows.push({
      provider: c.provider,
      readyMs: stats(boots.map((b) => b.processStartToReadyMs)),
      sdkImportMs: imports.length > 0 ? stats(imports.map((x) => x.importMs)) : undefined,
      rssMb: stats(boots.map((b) => b.rssMb)),
      sdksLoaded: boots[0].sdksLoaded
    })
  }
  const base = rows[0]
  return {
    rows,
    table: table(['app', 'start → ready ms (median)', 'vs bare', 'SDK import alone ms', 'RSS MB after ready', 'vs bare', 'SDK families loaded'],
      rows.map((r) => [r.provider, round(r.readyMs.median), `${round(r.readyMs.median / base.readyMs.median, 2)}×`, r.sdkImportMs === undefined ? '—' : round(r.sdkImportMs.median), round(r.rssMb.median), `${round(r.rssMb.median / base.rssMb.median, 2)}×`, r.sdksLoaded.join(' ') || 'none']))
  }
}
