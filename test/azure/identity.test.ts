import { test } from 'tap'
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { startAzureWorld, randomPrincipal, fakeCli, azTokenOutput, azdTokenOutput } from '../fakes/azure/index.js'
import { useEnv, pathWith } from './env.js'
import { startApp, warmUp } from './app.js'
import { randomSecret } from '../helpers/capture.js'

test('identity paths (production host names, env vars only)', async (t) => {
  await warmUp()
  const world = await startAzureWorld()
  t.teardown(world.close)
  const dbValue = randomSecret('db')
  world.keyvault.setSecret(world.vault, 'db-password', dbValue)
  const base = { ...world.redirectEnv(), AZURE_KEYVAULT_URL: 'https://myvault.vault.azure.net', CLOUD_SECRETS: 'db=db-password', CLOUD_SECRETS_TIMEOUT_MS: '5000' }
  // where the chain reaches IMDS, it meets a fake one with no identity (never 169.254.169.254)
  const noImds = { AZURE_POD_IDENTITY_AUTHORITY_HOST: world.imdsNoIdentity.host }
  const sp = randomPrincipal({ tid: world.tenant })
  const spSecret = randomSecret('client-secret')
  const federated = randomSecret('sa-token')
  world.entra.addApp({ principal: sp, secret: spSecret, federatedTokens: [federated] })
  for (const p of [sp, world.systemMi, world.userMi]) world.vault.readers.add(p.oid)

  await t.test('App Service: system-assigned managed identity via IDENTITY_ENDPOINT (provider auto)', async (t) => {
    useEnv(t, { ...base, ...world.appService.env(), WEBSITE_SITE_NAME: 'my-app' })
    const before = world.appService.count('GET /msi/token')
    const { app, error } = await startApp(t, {}, (app) => {
      app.get('/who', async (request) => ({ principal: request.cloud.azure?.identity.principal, same: request.cloud.azure === app.cloud.azure }))
    })
    t.error(error)
    t.equal(app.secrets.db, dbValue)
    t.match(app.cloud.identity, { provider: 'azure', platform: 'app-service', source: 'azure:managed-identity', principal: world.systemMi.oid, tenant: world.tenant })
    t.match(app.cloud.identity.details, { managedIdentity: 'system-assigned', appId: world.systemMi.appid, managedIdentityResourceId: world.systemMi.xms_mirid })
    t.ok(Date.parse(app.cloud.identity.expiresAt as string) > Date.now())
    t.equal(world.appService.count('GET /msi/token') - before, 1, 'one token request: the vault challenge reuses it')
    const res = await app.inject('/who')
    t.same(res.json(), { principal: world.systemMi.oid, same: true })
  })

  await t.test('Container Apps: user-assigned managed identity via AZURE_CLIENT_ID', async (t) => {
    useEnv(t, { ...base, ...world.appService.env(), CONTAINER_APP_NAME: 'api', AZURE_CLIENT_ID: world.userMi.appid })
    const { app, error } = await startApp(t)
    t.error(error)
    t.match(app.cloud.identity, { platform: 'container-apps', source: 'azure:managed-identity', principal: world.userMi.oid })
    t.equal(app.cloud.identity.details?.managedIdentity, 'user-assigned')
  })

  await t.test('Functions platform is told apart from App Service', async (t) => {
    useEnv(t, { ...base, ...world.appService.env(), WEBSITE_SITE_NAME: 'fn', FUNCTIONS_WORKER_RUNTIME: 'node', FUNCTIONS_EXTENSION_VERSION: '~4' })
    const { app, error } = await startApp(t)
    t.error(error)
    t.equal(app.cloud.identity.platform, 'functions')
  })

  await t.test('VM: IMDS (system-assigned), platform vm', async (t) => {
    useEnv(t, { ...base, AZURE_POD_IDENTITY_AUTHORITY_HOST: world.imds.host, CLOUD_SECRETS_PROVIDER: 'azure' })
    const before = world.imds.count('GET /metadata/identity/oauth2/token')
    const { app, error } = await startApp(t)
    t.error(error)
    t.match(app.cloud.identity, { platform: 'vm', source: 'azure:managed-identity', principal: world.systemMi.oid })
    t.equal(app.cloud.identity.details?.managedIdentityEndpoint, 'imds')
    t.ok(world.imds.count('GET /metadata/identity/oauth2/token') > before)
  })

  await t.test('AKS: workload identity against login.microsoftonline.com (redirected)', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'fcs-wi-'))
    writeFileSync(join(dir, 'token'), federated)
    useEnv(t, { ...base, AZURE_FEDERATED_TOKEN_FILE: join(dir, 'token'), AZURE_CLIENT_ID: sp.appid, AZURE_TENANT_ID: world.tenant, KUBERNETES_SERVICE_HOST: '10.0.0.1' })
    const { app, error } = await startApp(t)
    t.error(error)
    t.match(app.cloud.identity, { platform: 'aks', source: 'azure:workload-identity', principal: sp.oid, tenant: world.tenant })
    t.equal(app.secrets.db, dbValue)
  })

  await t.test('environment: client secret', async (t) => {
    useEnv(t, { ...base, AZURE_TENANT_ID: world.tenant, AZURE_CLIENT_ID: sp.appid, AZURE_CLIENT_SECRET: spSecret, CLOUD_SECRETS_PROVIDER: 'azure' })
    const { app, error } = await startApp(t)
    t.error(error)
    t.match(app.cloud.identity, { platform: 'local', source: 'azure:environment', principal: sp.oid })
    t.equal(app.cloud.identity.details?.appId, sp.appid)
  })

  await t.test('environment: client certificate', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'fcs-cert-'))
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=app'], { cwd: dir, stdio: 'pipe' })
    const certPem = readFileSync(join(dir, 'cert.pem'), 'utf8')
    writeFileSync(join(dir, 'both.pem'), readFileSync(join(dir, 'key.pem'), 'utf8') + certPem)
    const der = Buffer.from(certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64')
    const certApp = randomPrincipal({ tid: world.tenant })
    world.entra.addApp({ principal: certApp, thumbprints: [createHash('sha256').update(der).digest('base64url'), createHash('sha1').update(der).digest('base64url')] })
    world.vault.readers.add(certApp.oid)
    useEnv(t, { ...base, AZURE_TENANT_ID: world.tenant, AZURE_CLIENT_ID: certApp.appid, AZURE_CLIENT_CERTIFICATE_PATH: join(dir, 'both.pem'), CLOUD_SECRETS_PROVIDER: 'azure' })
    const { app, error } = await startApp(t)
    t.error(error)
    t.match(app.cloud.identity, { source: 'azure:environment', principal: certApp.oid })
    t.match(app.cloud.identity.details?.credential, /ClientCertificateCredential/)
  })

  await t.test('local: az CLI login (fake az first on PATH); the vault challenge passes --tenant', async (t) => {
    const user = randomPrincipal({ tid: world.tenant, idtyp: 'user', appid: '04b07795-8ddb-461a-bbee-02f9e1bf7b46', upn: 'dev@contoso.example' })
    world.vault.readers.add(user.oid)
    const minted = world.tokens.mint(user, 'https://vault.azure.net')
    const az = fakeCli('az', { stdout: azTokenOutput(minted.token, minted.exp, world.tenant) })
    useEnv(t, { ...base, ...noImds, CLOUD_SECRETS_PROVIDER: 'azure', PATH: pathWith(az.dir) })
    const { app, error } = await startApp(t)
    t.error(error)
    t.match(app.cloud.identity, { platform: 'local', source: 'azure:cli', principal: user.oid })
    t.match(app.cloud.identity.details, { principalType: 'User', user: 'dev@contoso.example' })
    const calls = readFileSync(az.callsFile, 'utf8').trim().split('\n')
    t.match(calls[0], /^account get-access-token --output json --resource https:\/\/vault\.azure\.net$/)
    t.ok(calls.some((c) => c.includes(`--tenant ${world.tenant}`)), 'the challenge tenant is passed to az')
    const again = await app.cloud.azure?.getToken('https://vault.azure.net/.default')
    t.equal(again?.token, minted.token, 'getToken(scope) serves the same credential (cached)')
  })

  await t.test('local: Azure Developer CLI when az is not logged in', async (t) => {
    const user = randomPrincipal({ tid: world.tenant, idtyp: 'user', upn: 'dev2@contoso.example' })
    world.vault.readers.add(user.oid)
    const minted = world.tokens.mint(user, 'https://vault.azure.net')
    const azd = fakeCli('azd', { stdout: azdTokenOutput(minted.token, minted.exp) })
    useEnv(t, { ...base, ...noImds, CLOUD_SECRETS_PROVIDER: 'azure', PATH: pathWith(azd.dir) })
    const { app, error } = await startApp(t)
    t.error(error)
    t.match(app.cloud.identity, { source: 'azure:developer-cli', principal: user.oid })
    t.match(readFileSync(azd.callsFile, 'utf8'), /auth token --output json --no-prompt --scope https:\/\/vault\.azure\.net\/\.default/)
  })

  await t.test('AZURE_TOKEN_CREDENTIALS=dev skips the production credentials (no managed identity request)', async (t) => {
    const user = randomPrincipal({ tid: world.tenant, idtyp: 'user' })
    world.vault.readers.add(user.oid)
    const minted = world.tokens.mint(user, 'https://vault.azure.net')
    const az = fakeCli('az', { stdout: azTokenOutput(minted.token, minted.exp, world.tenant) })
    useEnv(t, { ...base, ...world.appService.env(), AZURE_TOKEN_CREDENTIALS: 'dev', PATH: pathWith(az.dir) })
    const before = world.appService.total
    const { app, error } = await startApp(t)
    t.error(error)
    t.equal(app.cloud.identity.source, 'azure:cli')
    t.equal(world.appService.total, before)
  })

  await t.test('AZURE_TOKEN_CREDENTIALS with an unknown value is a config error before any call', async (t) => {
    useEnv(t, { ...base, ...world.appService.env(), AZURE_TOKEN_CREDENTIALS: 'Bogus' })
    const before = world.appService.total
    const { error } = await startApp(t)
    t.equal(error?.code, 'FST_CLOUD_SECRETS_CONFIG')
    t.match(error?.message, /AZURE_TOKEN_CREDENTIALS/)
    t.equal(world.appService.total, before)
  })

  await t.test('checks.scopes: a token per scope at boot; identity only (no secrets) uses the first scope', async (t) => {
    useEnv(t, { ...world.redirectEnv(), ...world.appService.env(), WEBSITE_SITE_NAME: 'a', CLOUD_SECRETS_CHECK_SCOPES: 'https://database.windows.net/.default,https://storage.azure.com/.default' })
    const resources: string[] = []
    const seen = world.appService.onToken
    world.appService.onToken = (resource) => { resources.push(resource) }
    t.teardown(() => { world.appService.onToken = seen })
    const { app, error } = await startApp(t)
    t.error(error)
    t.equal(app.cloud.identity.source, 'azure:managed-identity')
    t.same([...new Set(resources)].sort(), ['https://database.windows.net', 'https://storage.azure.com'])
  })
})

test('nothing connected outside loopback', async (t) => {
  t.same((globalThis as { __loopbackViolations?: string[] }).__loopbackViolations, [])
})
