import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { kInternal, plugin } from './plugin.js'
import type { CustomCheck, Identity } from './types.js'

export interface TestingOptions {
  /** alias → value; each becomes app.secrets[alias] */
  values?: Record<string, string>
  /** aliases that stay undefined, as an absent `?optional` secret would */
  absent?: string[]
  /** the identity app.cloud.identity reports (defaults to a local identity) */
  identity?: Partial<Identity>
  checks?: { custom?: CustomCheck[] | Record<string, CustomCheck> }
}

/**
 * For your own tests: registers the real plugin (same loader, redaction and decorators) on
 * provider `local` with in-memory values and the identity you choose. No env var is read.
 *
 * ```ts
 * await app.register(cloudSecretsTesting, { values: { jwtKey: 'test-key' }, identity: { provider: 'aws', principal: 'arn:aws:sts::123456789012:assumed-role/app/test' } })
 * ```
 */
const testing: FastifyPluginAsync<TestingOptions> = async (app, options) => {
  const values = options.values ?? {}
  const secrets: Record<string, string> = {}
  for (const alias of Object.keys(values)) secrets[alias] = `local://${alias}`
  for (const alias of options.absent ?? []) secrets[alias] = `local://${alias}?optional`
  await plugin(app, {
    provider: 'local',
    secrets,
    local: { values },
    checks: options.checks,
    env: {},
    [kInternal]: { identity: { platform: 'test', source: 'testing', ...options.identity } }
  } as never)
}

export const cloudSecretsTesting = fp(testing, { name: 'fastify-cloud-secrets', fastify: '5.x' })
export default cloudSecretsTesting
