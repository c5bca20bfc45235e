// --import this to record every module the process loads (ESM and CommonJS), so a test or a
// benchmark can tell which SDKs were imported. Read with globalThis.__loadedModules().
import Module, { register } from 'node:module'
import { MessageChannel } from 'node:worker_threads'

const seen = new Set()
const { port1, port2 } = new MessageChannel()
port1.on('message', (url) => seen.add(url))
port1.unref()
register(new URL('./record-loads-hooks.mjs', import.meta.url), { data: { port: port2 }, transferList: [port2] })

const load = Module._load
Module._load = function recordedLoad (request, parent, isMain) {
  try { seen.add(Module._resolveFilename(request, parent, isMain)) } catch {}
  return load.apply(this, arguments)
}
globalThis.__loadedModules = () => [...seen]
