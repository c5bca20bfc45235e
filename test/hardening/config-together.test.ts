import http from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import { test } from 'tap'
import cloudSecrets from '../../src/index.js'
import { assertConfigRejection, countConnections } from './helpers.js'

// "Config is validated, all problems reported together, before any network call": several bad
// entries and settings of one config come back in ONE CONFIG error, and no socket was opened —
// not to the fake that every production hostname and metadata endpoint is redirected to, and
// not anywhere else (every client socket of the process is counted).

const PRODUCTION_HOSTS = ['*.amazonaws.com', '*.googleapis.com', 'metadata.google.internal', '*.vault.azure.net', 'login.microsoftonline.com', '169.254.169.254', '169.254.170.2']

const CASES: Array<{ provider: string, env: Record<string, string>, expect: Array<[string, string | undefined]> }> = [
  {
    provider: 'aws',
    env: {
      CLOUD_SECRETS: 'jwtKey=jwt-signing-key, bad alias=x,\ndb=arn:aws:nope, old=api-key?stage=, __proto__=y, twice=a, twice=b, v=x?version=1&stage=AWSCURRENT',
      AWS_REGION: 'nowhere',
      CLOUD_SECRETS_TIMEOUT_MS: 'soon',
      CLOUD_SECRETS_CHECK_SCOPES: 'https://x/.default',
      AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://169.254.170.2/creds'
    },
    expect: [['CLOUD_SECRETS_TIMEOUT_MS', undefined], ['CLOUD_SECRETS', 'bad alias'], ['CLOUD_SECRETS', 'old'], ['CLOUD_SECRETS', '__proto__'], ['CLOUD_SECRETS', 'twice'],
      ['CLOUD_SECRETS', 'v'], ['CLOUD_SECRETS', 'db'], ['AWS_REGION', undefined], ['CLOUD_SECRETS_CHECK_SCOPES', undefined]]
  },
  {
    provider: 'azure',
    env: {
      CLOUD_SECRETS: 'a=short-name, b=https://v.vault.azure.net/keys/x, c=name?stage=AWSPREVIOUS, d=bad_name',
      CLOUD_SECRETS_REFRESH_MS: '5',
      IDENTITY_ENDPOINT: 'http://169.254.169.254/msi/token'
    },
    expect: [['CLOUD_SECRETS_REFRESH_MS', undefined], ['CLOUD_SECRETS', 'b'], ['CLOUD_SECRETS', 'c'], ['CLOUD_SECRETS', 'd'], ['AZURE_KEYVAULT_URL', undefined]]
  },
  {
    provider: 'gcp',
    env: {
      CLOUD_SECRETS: 'a=projects/p/secrets/s/versions/0x, b=s?version=-1, c=gcp://has space, d=ok-secret#',
      GOOGLE_CLOUD_PROJECT: 'Not_A_Project',
      AZURE_KEYVAULT_URL: 'http://insecure.vault.azure.net',
      K_SERVICE: 'svc'
    },
    expect: [['CLOUD_SECRETS', 'c'], ['CLOUD_SECRETS', 'd'], ['CLOUD_SECRETS', 'a'], ['CLOUD_SECRETS', 'b'], ['AZURE_KEYVAULT_URL', undefined], ['GOOGLE_CLOUD_PROJECT', undefined]]
  }
]

test('every problem of one config is reported together, before any connection', async (t) => {
  let hits = 0
  const fake = http.createServer((req, res) => { hits++; res.end('{}') })
  await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve))
  t.teardown(() => fake.close())
  const port = (fake.address() as AddressInfo).port
  process.env.FCS_TEST_REDIRECT = PRODUCTION_HOSTS.map((h) => `${h}=127.0.0.1:${port}`).join(',')
  t.teardown(() => { delete process.env.FCS_TEST_REDIRECT })

  for (const { provider, env, expect } of CASES) {
    const sockets = countConnections()
    const app = Fastify({ logger: false })
    let caught: unknown
    try {
      await app.register(cloudSecrets, { provider, env } as never)
      await app.ready()
    } catch (err) {
      caught = err
    } finally {
      sockets.stop()
    }
    const problems = assertConfigRejection(caught, env.CLOUD_SECRETS)
    t.same(problems.map((p) => [p.source, p.alias]), expect, `${provider}: all problems, in one error`)
    t.equal(sockets.count, 0, `${provider}: no socket was opened (${sockets.destinations.join(', ')})`)
    t.match((caught as Error).message, /no network call was made/)
    await app.close()
  }
  t.equal(hits, 0, 'the fake behind every production hostname saw no request')
})

test('the same config from process.env, as a deployed app reads it', async (t) => {
  const saved = { ...process.env }
  t.teardown(() => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key]
    Object.assign(process.env, saved)
  })
  Object.assign(process.env, { CLOUD_SECRETS_PROVIDER: 'aws', CLOUD_SECRETS: 'a=ok, b=, c=x?y', AWS_REGION: 'x' })
  const sockets = countConnections()
  const app = Fastify({ logger: false })
  let caught: unknown
  try {
    await app.register(cloudSecrets)
    await app.ready()
  } catch (err) {
    caught = err
  } finally {
    sockets.stop()
  }
  const problems = assertConfigRejection(caught, process.env.CLOUD_SECRETS)
  t.same(problems.map((p) => [p.source, p.alias, p.position]), [['CLOUD_SECRETS', 'b', 8], ['CLOUD_SECRETS', 'c', 15], ['AWS_REGION', undefined, undefined]])
  t.equal(sockets.count, 0)
  await app.close()
})
