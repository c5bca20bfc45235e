import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { median, recorder, root, round, runJson, stats, table } from '../lib.js'

interface Boot { mode: string, provider: string, error?: string, secrets: number, processStartToReadyMs: number, importMs: number, registerToReadyMs: number, rssMb: number, sdksLoaded: string[] }
const tlsCache = `${root}bench/tls-cache.mjs`

interface SdkImport { importMs: number, sdksLoaded: string[] }
interface PathImport { importMs: number, modules: number, failed: number }

/** the target: (start → ready − bare) ≤ this × the import of what the path loads */
export const COLD_TARGET = 1.25

export interface ProviderBootCase {
  provider: string
  /** env that makes this provider boot against the bench's fakes (empty for local) */
  env: Record<string, string | undefined>
  /** the SDK packages of this provider, imported alone to show their own cost */
  sdks: string[]
  /** the SDK families a boot must load (and no other) */
  families: string[]
}

export interface ColdStartRow { provider: string, readyMs: ReturnType<typeof stats>, sdkImportMs?: ReturnType<typeof stats>, pathImportMs?: ReturnType<typeof stats>, pathModules?: number, overBareMs?: number, ratio?: number, met?: boolean, rssMb: ReturnType<typeof stats>, sdksLoaded: string[] }

/**
 * Process start → ready, per provider, beside bare Fastify and beside the SDK's own import time;
 * RSS after ready. Each boot is a fresh process.
 */
export async function coldStart (cases0: ProviderBootCase[], { runs = 5 } = {}): Promise<{ rows: ColdStartRow[], table: string }> {
  const rows: ColdStartRow[] = []
  // the loopback guard comes through NODE_OPTIONS, the fakes' CA through NODE_EXTRA_CA_CERTS (runJson): no harness trust store in the timings.
  // The timed boots run without the module recorder: its hooks thread adds a message round trip
  // to every ES module load (the plugin is ~100 of them), which the SDKs (CommonJS) barely pay;
  // one recorded boot per case, untimed, checks which SDK families load.
  const boot = ['--expose-gc', '--import', tlsCache, 'bench/apps/boot.mjs']
  const recorded = ['--expose-gc', '--import', tlsCache, '--import', recorder, 'bench/apps/boot.mjs']
  const tmp = mkdtempSync(join(tmpdir(), 'fcs-bench-cold-'))
  // what bare Fastify itself loads after its import (its register / ready): not part of any path
  const bareModules = join(tmp, 'bare.json')
  await runJson<Boot>([...recorded, 'bare'], { BOOT_MODULES_TO: bareModules })
  const bareSet = new Set(JSON.parse(readFileSync(bareModules, 'utf8')) as string[])
  // every round boots bare Fastify and then each case, so the machine's drift hits both sides of
  // a comparison alike; a case's figure over bare is the median of its rounds' differences
  const bare: Boot[] = []
  const cases = cases0.map((c) => ({ c, boots: [] as Boot[], imports: [] as SdkImport[], paths: [] as PathImport[], modules: join(tmp, `${c.provider}.json`), check: undefined as Boot | undefined }))
  for (const k of cases) {
    const loaded = join(tmp, `${k.c.provider}.loaded.json`)
    k.check = await runJson<Boot>([...recorded, 'plugin'], { ...k.c.env, BOOT_MODULES_TO: loaded })
    writeFileSync(k.modules, JSON.stringify((JSON.parse(readFileSync(loaded, 'utf8')) as string[]).filter((m) => !bareSet.has(m))))
    if (k.check.sdksLoaded.join(' ') !== k.c.families.join(' ')) throw new Error(`cold start of ${k.c.provider} loaded SDK families ${k.check.sdksLoaded.join(', ')}; expected ${k.c.families.join(', ')}`)
  }
  for (let i = 0; i < runs; i++) {
    bare.push(await runJson<Boot>([...boot, 'bare']))
    for (const k of cases) {
      const b = await runJson<Boot>([...boot, 'plugin'], k.c.env)
      if (b.error !== undefined || b.provider !== k.c.provider || b.secrets !== 1) throw new Error(`cold start of ${k.c.provider} did not boot with its secret: ${b.error ?? b.provider}`)
      k.boots.push(b)
      if (k.c.sdks.length > 0) k.imports.push(await runJson<SdkImport>(['bench/apps/import-sdk.mjs', ...k.c.sdks]))
      k.paths.push(await runJson<PathImport>(['--import', tlsCache, 'bench/apps/import-path.mjs', k.modules]))
    }
  }
  rows.push({ provider: 'bare Fastify', readyMs: stats(bare.map((b) => b.processStartToReadyMs)), rssMb: stats(bare.map((b) => b.rssMb)), sdksLoaded: [] })
  for (const { c, boots, imports, paths, check } of cases) {
    if (paths.some((p) => p.failed > 0)) throw new Error(`cold start of ${c.provider}: recorded modules did not load in import-path.mjs`)
    const overBare = median(boots.map((b, i) => b.processStartToReadyMs - bare[i].processStartToReadyMs))
    const pathImportMs = stats(paths.map((x) => x.importMs))
    rows.push({
      provider: c.provider,
      readyMs: stats(boots.map((b) => b.processStartToReadyMs)),
      sdkImportMs: imports.length > 0 ? stats(imports.map((x) => x.importMs)) : undefined,
      pathImportMs,
      pathModules: paths[0]?.modules,
      overBareMs: overBare,
      ratio: pathImportMs.median > 0 ? overBare / pathImportMs.median : undefined,
      rssMb: stats(boots.map((b) => b.rssMb)),
      sdksLoaded: check?.sdksLoaded ?? []
    })
  }
  rmSync(tmp, { recursive: true, force: true })
  const base = rows[0]
  for (const r of rows.slice(1)) if (r.ratio !== undefined) r.met = r.ratio <= COLD_TARGET
  return {
    rows,
    table: table(['app', 'start → ready ms (median)', 'vs bare', 'SDK import alone ms', 'import of the path ms (modules)', '(start → ready − bare) / path import (median of the rounds\' differences)', `≤ ${COLD_TARGET} ×`, 'RSS MB after ready', 'vs bare', 'SDK families loaded'],
      rows.map((r) => [r.provider, round(r.readyMs.median), `${round(r.readyMs.median / base.readyMs.median, 2)}×`, r.sdkImportMs === undefined ? '—' : round(r.sdkImportMs.median),
        r.pathImportMs === undefined ? '—' : `${round(r.pathImportMs.median)} (${r.pathModules ?? 0})`, r.ratio === undefined ? '—' : `${round(r.overBareMs ?? 0)} ms = ${round(r.ratio, 2)} ×`, r.met === undefined ? '—' : r.met ? 'met' : 'MISSED',
        round(r.rssMb.median), `${round(r.rssMb.median / base.rssMb.median, 2)}×`, r.sdksLoaded.join(' ') || 'none']))
  }
}
