// Imports the given packages in a fresh process and prints how long that took (the SDK's own
// import cost, measured beside the plugin's cold start) and which SDK families got loaded.
import { performance } from 'node:perf_hooks'
const started = performance.now()
for (const pkg of process.argv.slice(2)) await import(pkg)
const importMs = performance.now() - started
const loaded = typeof globalThis.__loadedModules === 'function' ? globalThis.__loadedModules() : []
const sdksLoaded = ['@aws-sdk/', '@azure/', '@google-cloud/', 'google-gax', 'google-auth-library']
  .filter((prefix) => loaded.some((url) => url.includes(`/node_modules/${prefix}`)))
process.stdout.write(JSON.stringify({ packages: process.argv.slice(2), importMs, sdksLoaded, modules: loaded.length }) + '\n')
