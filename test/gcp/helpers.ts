import Fastify, { type FastifyInstance } from 'fastify'
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import cloudSecrets from '../../src/index.js'
import type { CloudSecretsOptions } from '../../src/types.js'
import { captureLogs } from '../helpers/capture.js'
import { startGcpFakes, type GcpFakes } from '../fakes/gcp/index.js'

/** Sets env vars for the rest of the test and restores them at teardown. */
export function withEnv (t: Test, vars: Record<string, string | undefined>): void {
  const before: Record<string, string | undefined> = {}
  for (const [name, value] of Object.entries(vars)) {
    before[name] = process.env[name]
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
  t.teardown(() => {
    for (const [name, value] of Object.entries(before)) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  })
}

/** The fake Google endpoints, reached through their production hostnames. */
export async function startFakes (t: Test): Promise<GcpFakes> {
  const fakes = await startGcpFakes()
  t.teardown(async () => { await fakes.close() })
  withEnv(t, { ...fakes.env, CLOUDSDK_CONFIG: emptyDir() })
  return fakes
}

export function emptyDir (): string {
  return mkdtempSync(join(tmpdir(), 'fcs-gcp-test-'))
}

export interface Started {
  app: FastifyInstance
  logs: ReturnType<typeof captureLogs>
  error?: Error & { code?: string }
  ms: number
}

/** Registers the plugin on a real Fastify instance and waits for ready (or its failure). */
export async function start (t: Test, options: CloudSecretsOptions = {}, fastifyOptions: { pluginTimeout?: number } = {}): Promise<Started> {
  const logs = captureLogs()
  const app = Fastify({ logger: logs.logger, ...fastifyOptions })
  t.teardown(async () => { await app.close() })
  app.register(cloudSecrets, options)
  app.get('/whoami', async (request) => ({ principal: request.cloud.gcp?.identity.principal, project: request.cloud.gcp?.projectId }))
  const started = performance.now()
  try {
    await app.ready()
    return { app, logs, ms: performance.now() - started }
  } catch (err) {
    return { app, logs, error: err as Error & { code?: string }, ms: performance.now() - started }
  }
}

export const SA_EMAIL = 'app-runtime@demo-project.iam.gserviceaccount.com'

/** A `gcloud` on PATH whose config-helper reports `project` (what a developer's gcloud config prints). */
export function fakeGcloud (t: Test, project: string): void {
  const dir = emptyDir()
  const script = join(dir, 'gcloud')
  writeFileSync(script, `#!/bin/sh\nif [ "$1 $2" = "config config-helper" ]; then\n  echo '{"configuration":{"active_configuration":"default","properties":{"core":{"account":"dev@example.com","project":"${project}"}}}}'\n  exit 0\nfi\nexit 1\n`)
  chmodSync(script, 0o755)
  withEnv(t, { PATH: `${dir}:${process.env.PATH ?? ''}` })
}
