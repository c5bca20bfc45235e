// Compiled by `npm run typecheck` (tsconfig in this folder): proves the typing contract.
import Fastify from 'fastify'
import cloudSecrets, { type CloudContext, type Identity } from '../../src/index.js'

declare module '../../src/index.js' {
  interface CloudSecrets {
    jwtKey: string
    sentryDsn: string | undefined
  }
}

const app = Fastify()
await app.register(cloudSecrets, { provider: 'local', secrets: { jwtKey: 'jwt', sentryDsn: 'sentry?optional' } })

const key: string = app.secrets.jwtKey
const dsn: string | undefined = app.secrets.sentryDsn
// @ts-expect-error an unknown secret key is a compile error
const nope = app.secrets.notConfigured
// @ts-expect-error app.secrets is read-only
app.secrets.jwtKey = 'changed'
// @ts-expect-error an optional secret may be undefined
const notString: string = app.secrets.sentryDsn

app.get('/', async (request) => {
  const cloud: CloudContext = request.cloud
  const identity: Identity = cloud.identity
  return identity.principal
})

// @ts-expect-error provider must be one of the known names
await app.register(cloudSecrets, { provider: 'digitalocean' })

export { key, dsn, nope, notString }
