// One app boot in its own process, for cold-start, memory and lazy-load measurements.
// argv: mode (bare | plugin), then env decides the provider. Prints one JSON line.
import { performance } from 'node:perf_hooks'
const mode = process.argv[2] ?? 'plugin'
const importStart = performance.now()
const { default: Fastify } = await import('fastify')
// BOOT_MODULES_TO (a file; under test/helpers/record-loads.mjs): write there what the boot loaded
// after Fastify, for import-path.mjs (the import of what this path needs)
const recordTo = process.env.BOOT_MODULES_TO
if (recordTo !== undefined) await new Promise((resolve) => setTimeout(resolve, 200))
const loadedBefore = new Set(recordTo !== undefined ? globalThis.__loadedModules() : [])
// bare: Fastify alone (the plugin is not even imported)
const cloudSecrets = mode === 'plugin' ? (await import('../../dist/index.js')).default : undefined
const app = Fastify({ logger: false })
const registerStart = performance.now()
let error
try {
  if (mode === 'plugin') await app.register(cloudSecrets)
  await app.ready()
} catch (err) {
  // lazy-load checks boot configurations that fail after the provider imported its SDK
  error = err.code ?? 'UNKNOWN'
  if (process.env.BOOT_DEBUG) console.error(err.message)
}
const readyAt = performance.now()
if (recordTo !== undefined) {
  // the hooks report ES module resolutions by message: let those arrive
  await new Promise((resolve) => setTimeout(resolve, 200))
  const { writeFileSync } = await import('node:fs')
  writeFileSync(recordTo, JSON.stringify(globalThis.__loadedModules().filter((m) => !loadedBefore.has(m))))
}
const loaded = typeof globalThis.__loadedModules === 'function' ? globalThis.__loadedModules() : []
const sdks = ['@aws-sdk/', '@azure/', '@google-cloud/', 'google-gax', 'google-auth-library']
  .filter((prefix) => loaded.some((url) => url.includes(`/node_modules/${prefix}`)))
// every package a module was loaded from (the innermost node_modules folder names it)
const packagesLoaded = [...new Set(loaded.filter((url) => url.includes('/node_modules/')).map((url) => {
  const parts = decodeURIComponent(url).split('/node_modules/').pop().split('/')
  return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]
}))].sort()
global.gc?.()
const result = {
  mode,
  provider: app.cloud?.identity.provider ?? 'none',
  source: app.cloud?.identity.source,
  error,
  processStartToReadyMs: readyAt,
  importMs: registerStart - importStart,
  registerToReadyMs: readyAt - registerStart,
  rssMb: process.memoryUsage().rss / 1024 / 1024,
  heapUsedMb: process.memoryUsage().heapUsed / 1024 / 1024,
  sdksLoaded: sdks,
  packagesLoaded,
  // BOOT_LIST_MODULES=text: the loaded modules whose URL contains it (tests check single files)
  ...(process.env.BOOT_LIST_MODULES ? { modules: loaded.filter((url) => url.includes(process.env.BOOT_LIST_MODULES)) } : {}),
  secrets: app.secrets === undefined ? 0 : Object.keys(app.secrets).length
}
await app.close().catch(() => {})
process.stdout.write(JSON.stringify(result) + '\n')
