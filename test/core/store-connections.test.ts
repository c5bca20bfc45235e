// Issue 14: "N = 200 stays linear in round trips, with a bounded number of connections per store
// host". A 200-secret boot on each cloud, against the fakes on 127.0.0.1 with a latency and a
// connection cost (so requests overlap and a pool without a bound would open one connection per
// read), counts the TCP connections the store's fake accepted. Counts only, never milliseconds.
import Fastify from 'fastify'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test, type Test } from 'tap'
import cloudSecrets, { type CloudSecretsOptions } from '../../src/index.js'
import { DEFAULT_CONCURRENCY } from '../../src/loader.js'
import { startAwsFakes } from '../fakes/aws/index.js'
import { startAzureWorld } from '../fakes/azure/index.js'
import { startGcpFakes, writeServiceAccountKey } from '../fakes/gcp/index.js'
import { randomSecret } from '../helpers/capture.js'
import { setEnv } from '../aws/helpers.js'

const N = 200
/** every fake request waits this long; a new connection is usable once it is twice that old */
const LATENCY_MS = 20

async function boot (t: Test, options: CloudSecretsOptions): Promise<Record<string, string | undefined>> {
  const app = Fastify({ logger: false, pluginTimeout: 65_000 })
  t.teardown(async () => { await app.close() })
  await app.register(cloudSecrets, { timeoutMs: 60_000, ...options })
  await app.ready()
  return app.secrets as Record<string, string | undefined>
}

const names = (prefix: string): string[] => Array.from({ length: N }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`)
const asSecrets = (ids: string[]): Record<string, string> => Object.fromEntries(ids.map((id, i) => [`s${i}`, id]))

test(`aws: a ${N}-secret boot opens at most 10 connections to Secrets Manager (${N / 20} BatchGetSecretValue calls; WARM_CONNECTIONS_MAX)`, async (t) => {
  const fakes = await startAwsFakes()
  t.teardown(() => fakes.close())
  const ids = names('conn/aws')
  const values = ids.map((id) => { const v = randomSecret('conn'); fakes.world.putSecret(id, v); return v })
  const keys = fakes.world.issue('arn:aws:iam::123456789012:user/conn', ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue'], { session: false })
  setEnv(t, { ...fakes.env, AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey })
  for (const s of [fakes.sm, fakes.sts]) s.faults = { latencyMs: LATENCY_MS, connectionMs: 2 * LATENCY_MS }
  const before = fakes.sm.connections.accepted
  const secrets = await boot(t, { provider: 'aws', secrets: asSecrets(ids) })
  t.same(ids.map((_, i) => secrets[`s${i}`]), values, `all ${N} values`)
  const opened = fakes.sm.connections.accepted - before
  t.ok(opened >= 1 && opened <= 10, `connections to Secrets Manager: ${opened} (1 to 10)`)
  t.equal(fakes.sm.count('BatchGetSecretValue'), N / 20, '20 ids per batch call')
})

test(`azure: a ${N}-secret boot opens at most DEFAULT_CONCURRENCY (${DEFAULT_CONCURRENCY}) connections to Key Vault (the warm pool's maxSockets)`, async (t) => {
  const world = await startAzureWorld()
  t.teardown(world.close)
  world.vault.readers.add(world.systemMi.oid)
  const ids = names('conn-azure')
  const values = ids.map((id) => { const v = randomSecret('conn'); world.keyvault.setSecret(world.vault, id, v); return v })
  setEnv(t, { ...world.redirectEnv(), ...world.appService.env(), WEBSITE_SITE_NAME: 'conn', AZURE_KEYVAULT_URL: 'https://myvault.vault.azure.net' })
  for (const s of [world.keyvault, world.appService, world.entra]) { s.faults.latencyMs = LATENCY_MS; s.faults.connectionMs = 2 * LATENCY_MS }
  const before = world.keyvault.connections.accepted
  const secrets = await boot(t, { provider: 'azure', secrets: asSecrets(ids) })
  t.same(ids.map((_, i) => secrets[`s${i}`]), values, `all ${N} values`)
  const opened = world.keyvault.connections.accepted - before
  t.ok(opened >= 1 && opened <= DEFAULT_CONCURRENCY, `connections to Key Vault: ${opened} (1 to ${DEFAULT_CONCURRENCY}, not one per read)`)
  t.equal(world.keyvault.served, N, 'one GET per secret')
})

test(`gcp: a ${N}-secret boot opens one connection to Secret Manager (one HTTP/2 channel)`, async (t) => {
  const fakes = await startGcpFakes()
  t.teardown(async () => { await fakes.close() })
  const { world } = fakes
  const ids = names('conn-gcp')
  const values = ids.map((id) => { const v = randomSecret('conn'); world.addSecret(`projects/demo-project/secrets/${id}`, [v]); return v })
  const email = 'app-runtime@demo-project.iam.gserviceaccount.com'
  world.allowAccess(email, '*')
  const key = writeServiceAccountKey(world, email)
  setEnv(t, { ...fakes.env, CLOUDSDK_CONFIG: mkdtempSync(join(tmpdir(), 'fcs-conn-gcloud-')), GOOGLE_APPLICATION_CREDENTIALS: key.file })
  world.faults.secretManager.latencyMs = LATENCY_MS
  world.faults.secretManager.connectionMs = 2 * LATENCY_MS
  world.faults.oauth.latencyMs = LATENCY_MS
  const before = fakes.secretManager.connections.accepted
  const secrets = await boot(t, { provider: 'gcp', secrets: asSecrets(ids) })
  t.same(ids.map((_, i) => secrets[`s${i}`]), values, `all ${N} values`)
  t.equal(fakes.secretManager.connections.accepted - before, 1, 'connections to Secret Manager: 1')
  t.equal(world.totalAccessCalls(), N, 'one AccessSecretVersion per secret')
})
