import { createHash } from 'node:crypto'
import Fastify from 'fastify'
import jwt from '@fastify/jwt'
import cloudSecrets from 'fastify-cloud-secrets'

/**
 * A small service: the signing key and an API token come from the secret store of whatever
 * cloud the process runs on (provider `local` with example-app/secrets.local.json by default).
 * With refresh on (CLOUD_SECRETS_REFRESH_MS) the JWT signing key rotates without a restart:
 * new tokens are signed with the current key and carry its `kid`; tokens signed with the key
 * before the last rotation still verify until they expire.
 */
export async function buildApp ({ logger = true, env = process.env } = {}) {
  const app = Fastify({ logger })

  // everything from env vars: CLOUD_SECRETS_PROVIDER, CLOUD_SECRETS, CLOUD_SECRETS_REFRESH_MS, …
  await app.register(cloudSecrets, { env })

  // #region readme-jwt (the README shows this region; test/example/rotation.test.ts checks it is the same)
  // the function forms: @fastify/jwt asks for the key on every sign and verify, so it sees a
  // rotation (a string `secret` would be copied once, here, and never change)
  // request.secrets is the snapshot the request started with: the kid and the key always match
  await app.register(jwt, {
    decode: { complete: true },
    secret: {
      private: (request, payload, cb) => cb(null, request.secrets.jwtKey),
      public: (request, token, cb) => {
        // the key before the last rotation, while tokens it signed are still valid
        const previous = app.cloud.refresh?.previous('jwtKey')
        // any other kid gets the current key: the signature check refuses a token it did not sign
        cb(null, previous !== undefined && token.header.kid === keyId(previous) ? previous : app.secrets.jwtKey)
      }
    }
  })

  app.post('/token', async (request, reply) => {
    const subject = typeof request.body?.sub === 'string' ? request.body.sub : 'anonymous'
    return { token: await reply.jwtSign({ sub: subject }, { sign: { kid: keyId(request.secrets.jwtKey), expiresIn: '15m' } }) }
  })
  // #endregion

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

// #region readme-keyid
/**
 * A key id that names a key without revealing it: the first 16 hex digits of its SHA-256
 * (the key must be high-entropy, as a signing key is; a store version id works as well).
 */
export function keyId (key) {
  return createHash('sha256').update(key).digest('hex').slice(0, 16)
}
// #endregion

/**
 * The embedded default: provider local with the checked-in dummy values, re-read every 10 s
 * (edit example-app/secrets.local.json while it runs to rotate the key). Other values file:
 * CLOUD_SECRETS_LOCAL_FILE; other interval: CLOUD_SECRETS_REFRESH_MS (empty: refresh off).
 */
export function exampleEnv (env = process.env) {
  if (env.CLOUD_SECRETS_PROVIDER !== undefined || env.CLOUD_SECRETS !== undefined) return env
  return {
    ...env,
    CLOUD_SECRETS_PROVIDER: 'local',
    CLOUD_SECRETS_LOCAL_FILE: env.CLOUD_SECRETS_LOCAL_FILE ?? new URL('./secrets.local.json', import.meta.url).pathname,
    CLOUD_SECRETS: 'jwtKey=jwt-signing-key, paymentsToken=payments-api#token, sentryDsn=sentry-dsn?optional',
    CLOUD_SECRETS_REFRESH_MS: env.CLOUD_SECRETS_REFRESH_MS ?? '10s'
  }
}
