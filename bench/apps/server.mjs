// The app of the per-request benchmark: bare Fastify, or the same app with the plugin registered
// and request.cloud read in the handler. Prints its port.
const mode = process.argv[2] ?? 'bare'
const { default: Fastify } = await import('fastify')
const app = Fastify({ logger: false })
if (mode === 'plugin') {
  const { default: cloudSecrets } = await import('../../dist/index.js')
  await app.register(cloudSecrets, { provider: 'local', secrets: { apiKey: 'api-key' }, local: { values: { 'api-key': 'bench-dummy-value' } }, env: {} })
  app.get('/', async (request) => ({ ok: true, provider: request.cloud.identity.provider }))
} else {
  app.get('/', async () => ({ ok: true, provider: 'none' }))
}
await app.listen({ port: 0, host: '127.0.0.1' })
process.stdout.write(`${app.server.address().port}\n`)
process.on('SIGTERM', () => { app.close().then(() => process.exit(0)) })
