// --import this into a child boot: when the process sends its first HTTP request to a path that
// PROBE_PATH names, it writes one line to stderr with how many modules of the SDK packages
// (PROBE_PACKAGES, comma-separated; default @aws-sdk/) had been loaded by then (CommonJS modules
// land in require.cache when they are loaded, through import() too).
import { subscribe } from 'node:diagnostics_channel'
import { createRequire } from 'node:module'

const cache = createRequire(import.meta.url).cache
const path = process.env.PROBE_PATH ?? ''
const packages = (process.env.PROBE_PACKAGES ?? '@aws-sdk/').split(',').map((p) => `/node_modules/${p}`)
let seen = false
subscribe('http.client.request.start', ({ request }) => {
  if (seen || path === '' || !String(request.path).startsWith(path)) return
  seen = true
  const sdkModules = Object.keys(cache).filter((file) => packages.some((p) => file.includes(p))).length
  process.stderr.write(`PROBE ${JSON.stringify({ path: request.path, sdkModules })}\n`)
})
