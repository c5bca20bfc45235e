// One fake cloud per provider for the benchmarks: the test fakes (production hostnames through the
// loopback guard), seeded with random secret values, a latency knob, request counters, and the
// baseline the seed documents show (resolve credentials, then one awaited get per secret).
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FakeContainerCredentials, startAwsFakes } from '../test/fakes/aws/index.js'
import { startAzureWorld } from '../test/fakes/azure/index.js'
import { startGcpFakes } from '../test/fakes/gcp/index.js'

export type CloudName = 'aws' | 'azure' | 'gcp'

export interface BenchWorld {
  provider: CloudName
  /** the identity path both the plugin and the baseline use */
  identityPath: string
  /** env for the plugin and the baseline (undefined = unset) */
  env: Record<string, string | undefined>
  /** seeded secret ids (random values); take the first N */
  ids: string[]
  /** id → value, to check what was loaded */
  values: Map<string, string>
  /** every request +ms; every new TLS connection waits until it is `connectionMs` old (default 2 × ms: TCP + TLS handshake) */
  setLatency: (ms: number, connectionMs?: number) => void
  /** cumulative requests by kind; diff two snapshots for one boot */
  counts: () => Record<string, number>
  /** cumulative TLS connections (HTTP/2 sessions count once) by host; diff two snapshots for one boot */
  connections: () => Record<string, number>
  /** the key of `connections()` that is the secret store's host */
  storeHost: string
  /** the count kinds that are token / credential acquisitions */
  tokenKinds: string[]
  /** what the seed documents do, with the same SDK against the same fakes */
  baseline: (ids: string[]) => Promise<void>
  /** tokens, keys and values the fakes issued, for the leak scan */
  sensitive: () => string[]
  /** Azure only: Key Vault's per-vault token bucket (undefined: no limit) */
  limit?: (rate: { perSecond: number, burst: number, retryAfterS?: number } | undefined) => void
  close: () => Promise<void>
}

export const MAX_SECRETS = 200

function randomValue (): string {
  return `bench-${randomBytes(18).toString('base64url')}`
}

function seedIds (prefix: string): string[] {
  return Array.from({ length: MAX_SECRETS }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`)
}

export async function startAwsWorld (): Promise<BenchWorld> {
  const fakes = await startAwsFakes()
  const container = await new FakeContainerCredentials(fakes.world, {
    principal: `arn:aws:sts::${fakes.world.account}:assumed-role/bench-task/0123456789abcdef`,
    allow: ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue']
  }).start()
  const ids = seedIds('bench/secret')
  const values = new Map(ids.map((id) => [id, randomValue()]))
  for (const [id, value] of values) fakes.world.putSecret(id, value)
  const servers = [fakes.sm, fakes.sts, container]
  return {
    provider: 'aws',
    identityPath: 'container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI, as on ECS / EKS Pod Identity)',
    env: { ...fakes.env, AWS_CONTAINER_CREDENTIALS_FULL_URI: container.fullUri, AWS_EC2_METADATA_DISABLED: 'true' },
    ids,
    values,
    setLatency: (ms, connectionMs = 2 * ms) => { for (const s of servers) { s.faults.latencyMs = ms; s.faults.connectionMs = connectionMs } },
    connections: () => ({ 'Secrets Manager': fakes.sm.connections.accepted, STS: fakes.sts.connections.accepted }),
    storeHost: 'Secrets Manager',
    counts: () => ({ 'container credentials': container.count('credentials'), ...prefixed('STS ', fakes.sts.counts), ...prefixed('', fakes.sm.counts) }),
    tokenKinds: ['container credentials'],
    baseline: async (list) => {
      const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager')
      const client = new SecretsManagerClient({})
      try {
        await client.config.credentials()
        for (const id of list) await client.send(new GetSecretValueCommand({ SecretId: id }))
      } finally {
        client.destroy()
      }
    },
    sensitive: () => fakes.world.sensitive(),
    close: async () => { await Promise.all([fakes.close(), container.close()]) }
  }
}

export async function startAzureBenchWorld (): Promise<BenchWorld> {
  const world = await startAzureWorld()
  world.vault.readers.add(world.systemMi.oid)
  const ids = seedIds('bench-secret')
  const values = new Map(ids.map((id) => [id, randomValue()]))
  for (const [id, value] of values) world.keyvault.setSecret(world.vault, id, value)
  const servers = [world.entra, world.keyvault, world.appService, world.imds, world.imdsNoIdentity]
  const vaultUrl = 'https://myvault.vault.azure.net'
  return {
    provider: 'azure',
    identityPath: 'managed identity, App Service identity endpoint (IDENTITY_ENDPOINT + IDENTITY_HEADER)',
    env: { ...world.redirectEnv(), ...world.appService.env(), AZURE_KEYVAULT_URL: vaultUrl, AZURE_POD_IDENTITY_AUTHORITY_HOST: world.imdsNoIdentity.host },
    ids,
    values,
    setLatency: (ms, connectionMs = 2 * ms) => { for (const s of servers) { s.faults.latencyMs = ms; s.faults.connectionMs = connectionMs } },
    connections: () => ({ 'Key Vault': world.keyvault.connections.accepted, Entra: world.entra.connections.accepted }),
    storeHost: 'Key Vault',
    counts: () => ({
      'MI token': world.appService.count('GET /msi/token'),
      'Entra token': world.entra.countMatching(/^POST .*\/token$/),
      'Key Vault GET (challenge 401)': world.keyvault.total - world.keyvault.served - world.keyvault.throttled,
      'Key Vault GET secret': world.keyvault.served,
      'Key Vault 429': world.keyvault.throttled
    }),
    limit: (rate) => { world.keyvault.faults.rateLimit = rate },
    tokenKinds: ['MI token', 'Entra token'],
    baseline: async (list) => {
      const [{ DefaultAzureCredential }, { SecretClient }] = await Promise.all([import('@azure/identity'), import('@azure/keyvault-secrets')])
      const credential = new DefaultAzureCredential()
      await credential.getToken('https://vault.azure.net/.default')
      const client = new SecretClient(vaultUrl, credential)
      for (const id of list) await client.getSecret(id)
    },
    sensitive: () => [...world.tokens.all(), world.appService.header],
    close: async () => { await world.close() }
  }
}

export async function startGcpWorld (): Promise<BenchWorld> {
  const fakes = await startGcpFakes()
  const { world } = fakes
  const ids = seedIds('bench-secret')
  const values = new Map(ids.map((id) => [id, randomValue()]))
  for (const [id, value] of values) world.addSecret(`projects/demo-project/secrets/${id}`, value)
  world.allowAccess(world.metadataIdentity.email, '*')
  return {
    provider: 'gcp',
    identityPath: 'metadata server (Cloud Run: K_SERVICE, GCE_METADATA_HOST), project from GOOGLE_CLOUD_PROJECT',
    env: { ...fakes.env, K_SERVICE: 'bench', GCE_METADATA_HOST: fakes.metadata.host, GOOGLE_CLOUD_PROJECT: 'demo-project', CLOUDSDK_CONFIG: mkdtempSync(join(tmpdir(), 'fcs-bench-gcloud-')) },
    ids,
    values,
    setLatency: (ms, connectionMs = 2 * ms) => {
      world.faults.secretManager.latencyMs = ms
      world.faults.secretManager.connectionMs = connectionMs
      world.faults.metadata.latencyMs = ms
      world.faults.oauth.latencyMs = ms
    },
    connections: () => ({ 'Secret Manager': fakes.secretManager.connections.accepted }),
    storeHost: 'Secret Manager',
    counts: () => ({
      ...Object.fromEntries([...world.counters.metadata].map(([path, n]) => [`metadata ${path === '' ? '/' : path.replace(/^instance\/service-accounts\/default\//, 'sa/')}`, n])),
      'OAuth token': world.counters.oauthToken,
      AccessSecretVersion: world.totalAccessCalls()
    }),
    tokenKinds: ['metadata sa/token', 'OAuth token'],
    baseline: async (list) => {
      const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager')
      const client = new SecretManagerServiceClient()
      try {
        await client.auth.getAccessToken()
        for (const id of list) await client.accessSecretVersion({ name: `projects/demo-project/secrets/${id}/versions/latest` })
      } finally {
        await client.close()
      }
    },
    sensitive: () => [...world.issued],
    close: async () => { await fakes.close() }
  }
}

export const startWorld: Record<CloudName, () => Promise<BenchWorld>> = { aws: startAwsWorld, azure: startAzureBenchWorld, gcp: startGcpWorld }

function prefixed (prefix: string, counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).map(([k, v]) => [`${prefix}${k}`, v]))
}

/** counts after − before, without zero rows */
export function diff (after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) !== 0) out[k] = v - (before[k] ?? 0)
  return out
}

/** Sets env vars (undefined deletes) and returns a function that restores the previous values. */
export function applyEnv (vars: Record<string, string | undefined>): () => void {
  const saved = new Map<string, string | undefined>()
  for (const [name, value] of Object.entries(vars)) {
    saved.set(name, process.env[name])
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
  return () => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  }
}
