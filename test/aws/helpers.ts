import Fastify, { type FastifyInstance } from 'fastify'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import cloudSecrets, { type CloudSecretsOptions } from '../../src/index.js'
import { kInternal } from '../../src/plugin.js'
import { captureLogs } from '../helpers/capture.js'

/** Sets env vars for one test (undefined deletes) and restores them afterwards. */
export function setEnv (t: Test, vars: Record<string, string | undefined>): void {
  const saved = new Map<string, string | undefined>()
  for (const [name, value] of Object.entries(vars)) {
    saved.set(name, process.env[name])
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
  t.teardown(() => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  })
}

/** A temp dir with files (e.g. an AWS shared config) for one test. */
export function tempFiles (files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'fcs-aws-'))
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text, { mode: 0o600 })
  return dir
}

export interface Started {
  app: FastifyInstance
  logs: ReturnType<typeof captureLogs>
  error?: Error & { code?: string }
  ms: number
}

/** Registers the plugin on a real Fastify app with provider aws, fast retries, captured logs. */
export async function startApp (t: Test, options: CloudSecretsOptions & { retry?: { maxAttempts?: number } } = {}): Promise<Started> {
  const logs = captureLogs('debug')
  const app = Fastify({ logger: logs.logger, pluginTimeout: 20_000 })
  t.teardown(async () => { await app.close() })
  const { retry, ...rest } = options
  const started = Date.now()
  let error: Started['error']
  try {
    await app.register(cloudSecrets, { provider: 'aws', timeoutMs: 5000, ...rest, [kInternal]: { retry: { baseDelayMs: 5, maxDelayMs: 40, ...retry } } } as CloudSecretsOptions)
    app.get('/who', async (request) => ({ principal: request.cloud.identity.principal, same: request.cloud.aws === app.cloud.aws }))
    await app.ready()
  } catch (err) {
    error = err as Started['error']
  }
  return { app, logs, error, ms: Date.now() - started }
}

export function loopbackViolations (): string[] {
  return (globalThis as { __loopbackViolations?: string[] }).__loopbackViolations ?? []
}

/** The first line of an error, for assertion messages. */
export function brief (err: unknown): string {
  return String((err as Error | undefined)?.message ?? 'no error').split('\n')[0].slice(0, 200)
}
