import Fastify from 'fastify'
import jwt from '@fastify/jwt'
import cloudSecrets from 'fastify-cloud-secrets'

/**
 * A small service: the signing key and an API token come from the secret store of whatever
 * cloud the process runs on (provider `local` with example-app/secrets.local.json by default).
 */
export async function buildApp ({ logger = true, env = process.env } = {}) {
  const app = Fastify({ logger })

  // everything from env vars: CLOUD_SECRETS_PROVIDER, CLOUD_SECRETS, …
  await app.register(cloudSecrets, { env })

  // plugins registered after it see the loaded values in their options
  await app.register(jwt, { secret: app.secrets.jwtKey })

  app.post('/token', async (request) => {
    const subject = typeof request.body?.sub === 'string' ? request.body.sub : 'anonymous'
    return { token: app.jwt.sign({ sub: subject }, { expiresIn: '15m' }) }
  })

  app.get('/me', async (request, reply) => {
    try {
      const claims = await request.jwtVerify()
      return { sub: claims.sub }
    } catch (err) {
      return reply.code(401).send({ error: 'invalid token', reason: err.code })
    }
  })

  // identity only, never values: who we run as and which secrets are present
  app.get('/healthz', async (request) => ({
    status: 'ok',
    identity: request.cloud.identity,
    secrets: Object.keys(app.secrets),
    paymentsConfigured: app.secrets.paymentsToken !== undefined
  }))

  return app
}

/** The embedded default: provider local with the checked-in dummy values. */
export function exampleEnv (env = process.env) {
  if (env.CLOUD_SECRETS_PROVIDER !== undefined || env.CLOUD_SECRETS !== undefined) return env
  return {
    ...env,
    CLOUD_SECRETS_PROVIDER: 'local',
    CLOUD_SECRETS_LOCAL_FILE: new URL('./secrets.local.json', import.meta.url).pathname,
    CLOUD_SECRETS: 'jwtKey=jwt-signing-key, paymentsToken=payments-api#token, sentryDsn=sentry-dsn?optional'
  }
}
