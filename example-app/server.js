import { buildApp, exampleEnv } from './app.js'

const app = await buildApp({ env: exampleEnv() })

let closing = false
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.once(signal, () => {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'shutting down')
    app.close().then(() => process.exit(0), (err) => {
      app.log.error(err, 'shutdown failed')
      process.exit(1)
    })
  })
}

await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' })
