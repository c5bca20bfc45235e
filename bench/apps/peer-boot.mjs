// One boot of one system in a fresh process, against the bench's fakes (env from the parent):
// the time from the first import of what the system needs to every secret in hand, SDK import
// included. argv: cloud, system, then the secret ids. Prints one JSON line: ms, how many values
// and a digest of them (never a value), so the parent can check every system read the same.
import { createHash } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'

const [cloud, system, ...ids] = process.argv.slice(2)
const digest = (values) => createHash('sha256').update(values.join('\u0000')).digest('hex')

const systems = {
  ours: async () => {
    // Fastify itself is outside the timing (no other system needs it); the plugin and its SDK are inside
    const { default: Fastify } = await import('fastify')
    const app = Fastify({ logger: false, pluginTimeout: 120_000 })
    // PEER_BOOT_MODULES (a file; with --import test/helpers/record-loads.mjs): write there the
    // modules this boot loaded inside its clock, for import-path.mjs; the hooks report ES module
    // resolutions by message, so let those arrive before each snapshot
    const record = process.env.PEER_BOOT_MODULES
    const settle = async () => { if (record !== undefined) await new Promise((resolve) => setTimeout(resolve, 200)) }
    await settle()
    const loadedBefore = new Set(record === undefined ? [] : globalThis.__loadedModules())
    const started = performance.now()
    const { default: cloudSecrets } = await import('../../dist/index.js')
    await app.register(cloudSecrets, { provider: cloud, secrets: Object.fromEntries(ids.map((id, i) => [`s${i}`, id])), timeoutMs: 60_000 })
    await app.ready()
    const ms = performance.now() - started
    const values = ids.map((_, i) => app.secrets[`s${i}`])
    if (record !== undefined) {
      await settle()
      writeFileSync(record, JSON.stringify(globalThis.__loadedModules().filter((m) => !loadedBefore.has(m))))
    }
    await app.close()
    return { ms, values }
  },
  aws: {
    // the seed pattern: credentials, then one awaited read after another
    seed: async () => {
      const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager')
      const client = new SecretsManagerClient({})
      await client.config.credentials()
      const values = []
      for (const id of ids) values.push((await client.send(new GetSecretValueCommand({ SecretId: id }))).SecretString)
      client.destroy()
      return values
    },
    'SDK Promise.all': async () => {
      const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager')
      const client = new SecretsManagerClient({})
      const values = await Promise.all(ids.map(async (id) => (await client.send(new GetSecretValueCommand({ SecretId: id }))).SecretString))
      client.destroy()
      return values
    },
    'Powertools getSecret Promise.all': async () => {
      const { getSecret } = await import('@aws-lambda-powertools/parameters/secrets')
      return await Promise.all(ids.map(async (id) => await getSecret(id)))
    }
  },
  azure: {
    seed: async () => {
      const [{ DefaultAzureCredential }, { SecretClient }] = await Promise.all([import('@azure/identity'), import('@azure/keyvault-secrets')])
      const credential = new DefaultAzureCredential()
      await credential.getToken('https://vault.azure.net/.default')
      const client = new SecretClient(process.env.AZURE_KEYVAULT_URL, credential)
      const values = []
      for (const id of ids) values.push((await client.getSecret(id)).value)
      return values
    },
    'SDK Promise.all': async () => {
      const [{ DefaultAzureCredential }, { SecretClient }] = await Promise.all([import('@azure/identity'), import('@azure/keyvault-secrets')])
      const client = new SecretClient(process.env.AZURE_KEYVAULT_URL, new DefaultAzureCredential())
      return await Promise.all(ids.map(async (id) => (await client.getSecret(id)).value))
    }
  },
  gcp: {
    seed: async () => {
      const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager')
      const client = new SecretManagerServiceClient()
      await client.auth.getAccessToken()
      const values = []
      for (const id of ids) values.push((await client.accessSecretVersion({ name: `projects/${process.env.GOOGLE_CLOUD_PROJECT}/secrets/${id}/versions/latest` }))[0].payload.data.toString('utf8'))
      await client.close()
      return values
    },
    'SDK Promise.all': async () => {
      const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager')
      const client = new SecretManagerServiceClient()
      const values = await Promise.all(ids.map(async (id) => (await client.accessSecretVersion({ name: `projects/${process.env.GOOGLE_CLOUD_PROJECT}/secrets/${id}/versions/latest` }))[0].payload.data.toString('utf8')))
      await client.close()
      return values
    }
  }
}

let result
if (system === 'ours') {
  result = await systems.ours()
} else {
  const started = performance.now()
  const values = await systems[cloud][system]()
  result = { ms: performance.now() - started, values }
}
// a peer may leave keep-alive sockets or channels open: this boot is over once the line is out
process.stdout.write(JSON.stringify({ cloud, system, ms: result.ms, count: result.values.filter((v) => typeof v === 'string').length, digest: digest(result.values) }) + '\n', () => process.exit(0))
