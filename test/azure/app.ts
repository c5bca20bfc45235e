import Fastify, { type FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import cloudSecrets from '../../src/index.js'
import { captureLogs } from '../helpers/capture.js'

export interface Started {
  app: FastifyInstance
  logs: ReturnType<typeof captureLogs>
  /** the startup error, if startup failed */
  error?: Error & { code?: string }
  ms: number
}

/** Registers the plugin from env vars only (the way a platform runs the app) and waits for ready. */
export async function startApp (t: Test, options: Record<string, unknown> = {}, routes?: (app: FastifyInstance) => void): Promise<Started> {
  const logs = captureLogs()
  const app = Fastify({ logger: logs.logger, pluginTimeout: 20_000 })
  t.teardown(async () => { await app.close() })
  const started = Date.now()
  try {
    await app.register(cloudSecrets, options)
    routes?.(app)
    await app.ready()
    return { app, logs, ms: Date.now() - started }
  } catch (err) {
    return { app, logs, error: err as Error & { code?: string }, ms: Date.now() - started }
  }
}

/** Imports the SDKs once, so the first startup of a file does not spend its deadline loading modules. */
export async function warmUp (): Promise<void> {
  // the provider's own modules too: under tap they are compiled on first import, which on a
  // loaded 2-core machine can take longer than a short test deadline
  await Promise.all([import('@azure/identity'), import('@azure/keyvault-secrets'), import('@azure/core-rest-pipeline'), import('../../src/providers/azure/index.js')])
}
