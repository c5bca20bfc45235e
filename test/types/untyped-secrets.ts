// Without the CloudSecrets interface extended, any alias is allowed and may be undefined.
import Fastify from 'fastify'
import cloudSecrets from '../../src/index.js'

const app = Fastify()
await app.register(cloudSecrets)
const value: string | undefined = app.secrets.anything
// @ts-expect-error values may be undefined until narrowed
const s: string = app.secrets.anything
export { value, s }
