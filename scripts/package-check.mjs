#!/usr/bin/env node
// Packaging check, the way a user meets the package: pack the tarball, install it into a fresh
// consumer with fastify and ONLY one cloud's main SDK, with npm, pnpm (isolated layout) and Yarn
// Berry (Plug'n'Play), then
//   - compile a strict TypeScript app (strict, skipLibCheck: false; module nodenext, then bundler)
//     that uses typed app.secrets, app.cloud.identity and that cloud's typed clients (npm, pnpm);
//   - start an ESM app (every manager) and a CommonJS app (npm, pnpm) with no network
//     (`unshare -n` when the machine allows it, else unroutable endpoints) and a short deadline:
//     the startup error must be a network / credential class, never SDK_MISSING or a module
//     that was not found.
// Uses the npm registry (CI reaches it), so it is not part of the hermetic `npm test`: .ci/run
// calls it after `npm test`.
//
//   node scripts/package-check.mjs [--clouds aws,azure,gcp] [--managers npm,pnpm,yarn] [--keep]

import { spawnSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { values: args } = parseArgs({ options: { clouds: { type: 'string', default: 'aws,azure,gcp' }, managers: { type: 'string', default: 'npm,pnpm,yarn' }, keep: { type: 'boolean', default: false } } })
const ours = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const dev = ours.devDependencies

const INSTALL_TIMEOUT = 8 * 60_000
const RUN_TIMEOUT = 60_000

/** Each cloud: the one package list a user installs, the env of a boot that needs the network, and typed uses of its clients. */
const CLOUDS = {
  aws: {
    sdk: { '@aws-sdk/client-secrets-manager': dev['@aws-sdk/client-secrets-manager'] },
    boots: [
      // static keys: the default chain answers; STS GetCallerIdentity (hand-signed) needs the network
      { name: 'env keys → STS', env: { CLOUD_SECRETS_PROVIDER: 'aws', AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'AKIAPACKAGECHECK0000', AWS_SECRET_ACCESS_KEY: 'package-check-not-a-real-key', AWS_EC2_METADATA_DISABLED: 'true' } },
      // container credentials (ECS / EKS Pod Identity): the chain fails, its single source is loaded to explain why
      { name: 'container credentials', env: { CLOUD_SECRETS_PROVIDER: 'aws', AWS_REGION: 'eu-west-1', AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://169.254.170.23/v1/credentials', AWS_CONTAINER_AUTHORIZATION_TOKEN: 'package-check', AWS_EC2_METADATA_DISABLED: 'true' } }
    ],
    types: {
      imports: "import type {} from 'fastify-cloud-secrets/aws'\nimport { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'",
      body: `const aws = app.cloud.aws
if (aws !== undefined) {
  const sm: SecretsManagerClient = aws.secretsManager
  const again: SecretsManagerClient = aws.client(SecretsManagerClient, { region: 'eu-west-1' })
  const creds = await aws.credentials()
  const key: string = creds.accessKeyId
  const region: string = aws.region
  await sm.send(new GetSecretValueCommand({ SecretId: 'x' }))
  void again; void key; void region
  // @ts-expect-error not a method of the AWS clients
  aws.nope()
}`
    }
  },
  azure: {
    sdk: { '@azure/identity': dev['@azure/identity'], '@azure/keyvault-secrets': dev['@azure/keyvault-secrets'] },
    boots: [
      { name: 'client secret (EnvironmentCredential)', env: { CLOUD_SECRETS_PROVIDER: 'azure', AZURE_KEYVAULT_URL: 'https://package-check.vault.azure.net', AZURE_TENANT_ID: '00000000-0000-0000-0000-000000000001', AZURE_CLIENT_ID: '00000000-0000-0000-0000-000000000002', AZURE_CLIENT_SECRET: 'package-check-not-a-secret' } }
    ],
    types: {
      imports: "import type {} from 'fastify-cloud-secrets/azure'\nimport type { TokenCredential } from '@azure/identity'\nimport type { SecretClient } from '@azure/keyvault-secrets'",
      body: `const azure = app.cloud.azure
if (azure !== undefined) {
  const credential: TokenCredential = azure.credential
  const vault: SecretClient = azure.secretClient()
  const token = await azure.getToken('https://database.windows.net/.default')
  const expires: number = token.expiresOnTimestamp
  void credential; void vault; void expires
  // @ts-expect-error not a method of the Azure clients
  azure.nope()
}`
    }
  },
  gcp: {
    sdk: { '@google-cloud/secret-manager': dev['@google-cloud/secret-manager'] },
    boots: [
      { name: 'service account key (ADC)', key: true, env: { CLOUD_SECRETS_PROVIDER: 'gcp', GOOGLE_CLOUD_PROJECT: 'package-check', METADATA_SERVER_DETECTION: 'none' } }
    ],
    types: {
      imports: "import type {} from 'fastify-cloud-secrets/gcp'\nimport type { GoogleAuth } from 'fastify-cloud-secrets/gcp'\nimport type { SecretManagerServiceClient } from '@google-cloud/secret-manager'",
      body: `const gcp = app.cloud.gcp
if (gcp !== undefined) {
  const auth: GoogleAuth = gcp.auth
  const sm: SecretManagerServiceClient = gcp.secretManager
  const token: string = await gcp.getAccessToken()
  const project: string | undefined = gcp.projectId
  void auth; void sm; void token; void project
  // @ts-expect-error not a method of the GCP clients
  gcp.nope()
}`
    }
  }
}

/** Codes a boot with no network may end with: network, credential or deadline classes. */
const ACCEPTED = new Set(['FST_CLOUD_SECRETS_UNAVAILABLE', 'FST_CLOUD_SECRETS_NO_CREDENTIALS', 'FST_CLOUD_SECRETS_TOKEN', 'FST_CLOUD_SECRETS_TIMEOUT', 'FST_CLOUD_SECRETS_LOAD_FAILED'])

const failures = []
const results = []
function check (ok, what, detail = '') {
  results.push({ ok, what })
  console.log(`${ok ? 'ok    ' : 'FAILED'} ${what}${ok || detail === '' ? '' : `\n       ${detail.split('\n').slice(0, 25).join('\n       ')}`}`)
  if (!ok) failures.push(what)
}

function run (cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: opts.timeout ?? INSTALL_TIMEOUT, killSignal: 'SIGKILL', ...opts, env: { ...process.env, ...opts.env } })
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error !== undefined ? `\n${r.error.message}` : ''}` }
}

const work = mkdtempSync(join(tmpdir(), 'fcs-package-'))
console.log(`package check in ${work}`)

// ---- the tarball
const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: root }).out.replace(/^[^[]*/, ''))[0]
const tarball = join(work, packed.filename)
const files = packed.files.map((f) => f.path)
check(!files.some((f) => f.endsWith('.map')), 'the tarball ships no source maps (it ships no sources for them to point to)')
for (const entry of ['dist/index.d.ts', 'dist/aws.d.ts', 'dist/azure.d.ts', 'dist/gcp.d.ts', 'dist/testing.d.ts']) check(files.includes(entry), `the tarball ships ${entry}`)
const lifecycle = ['preinstall', 'install', 'postinstall', 'prepare', 'prepack', 'postpack'].filter((s) => ours.scripts?.[s] !== undefined)
check(lifecycle.length === 0, 'package.json has no install-time script (installing the tarball runs nothing of ours)', lifecycle.join(', '))

// ---- package managers: pnpm and Yarn Berry from the npm registry, installed locally
const managers = args.managers.split(',')
const tools = join(work, 'tools')
if (managers.some((m) => m !== 'npm')) {
  mkdirSync(tools)
  writeFileSync(join(tools, 'package.json'), '{"private":true}')
  const r = run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', 'pnpm@10', '@yarnpkg/cli-dist@4'], { cwd: tools })
  if (r.status !== 0) {
    check(false, 'install pnpm and Yarn Berry from the npm registry', r.out)
    process.exit(1)
  }
}
const pnpm = join(tools, 'node_modules', 'pnpm', 'bin', 'pnpm.cjs')
const yarn = join(tools, 'node_modules', '@yarnpkg', 'cli-dist', 'bin', 'yarn.js')

const offline = run('unshare', ['-n', 'true'], { timeout: 10_000 }).status === 0
console.log(offline ? 'boots run with no network (unshare -n)' : 'unshare -n is not allowed here: boots use unroutable endpoints')
const UNROUTABLE = { AWS_ENDPOINT_URL: 'http://127.0.0.1:9', AZURE_AUTHORITY_HOST: 'https://127.0.0.1:9', GOOGLE_CLOUD_UNIVERSE_DOMAIN: 'invalid' }

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
const keyFile = join(work, 'sa-key.json')
writeFileSync(keyFile, JSON.stringify({ type: 'service_account', project_id: 'package-check', private_key_id: 'package-check', private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }), client_email: 'app@package-check.iam.gserviceaccount.com', client_id: '1', token_uri: 'https://oauth2.googleapis.com/token' }))

const ESM_APP = `import Fastify from 'fastify'
import cloudSecrets from 'fastify-cloud-secrets'
const app = Fastify()
try {
  await app.register(cloudSecrets)
  await app.ready()
  console.log(JSON.stringify({ ok: true }))
} catch (err) {
  console.log(JSON.stringify({ ok: false, code: err.code, inner: (err.errors ?? []).map((e) => e.code), message: err.message }))
}
`
const CJS_APP = `const Fastify = require('fastify')
const { cloudSecrets } = require('fastify-cloud-secrets')
const app = Fastify()
app.register(cloudSecrets)
app.ready().then(() => { console.log(JSON.stringify({ ok: true })) }, (err) => {
  console.log(JSON.stringify({ ok: false, code: err.code, inner: (err.errors ?? []).map((e) => e.code), message: err.message }))
})
`
function tsApp (cloud) {
  return `import Fastify from 'fastify'
import cloudSecrets, { isCloudSecretsError, type Identity } from 'fastify-cloud-secrets'
${CLOUDS[cloud].types.imports}

declare module 'fastify-cloud-secrets' {
  interface CloudSecrets {
    dbPassword: string
    sentryDsn: string | undefined
  }
}

const app = Fastify()
await app.register(cloudSecrets, { secrets: { dbPassword: 'db-password', sentryDsn: 'sentry-dsn?optional' } })
const password: string = app.secrets.dbPassword
const dsn: string | undefined = app.secrets.sentryDsn
// @ts-expect-error not a declared secret
void app.secrets.nope
const identity: Identity = app.cloud.identity
const principal: string | undefined = identity.principal
app.get('/', async (request) => ({ who: request.cloud.identity.source, length: password.length + (dsn?.length ?? 0) }))
${CLOUDS[cloud].types.body}
try { await app.ready() } catch (err) { if (isCloudSecretsError(err)) console.log(err.code, err.fix) }
void principal
`
}
function tsconfig (mode) {
  // `lib` left at its default (ES2022 + DOM): @azure/identity's msal types use the DOM's
  // JsonWebKey, so an Azure app that sets `lib: ["ES2023"]` without DOM fails in msal's own
  // .d.ts, with or without this plugin
  const base = { strict: true, skipLibCheck: false, noEmit: true, target: 'ES2022', types: ['node'] }
  const options = mode === 'nodenext' ? { ...base, module: 'nodenext', moduleResolution: 'nodenext' } : { ...base, module: 'esnext', moduleResolution: 'bundler' }
  return JSON.stringify({ compilerOptions: options, files: ['app.ts'] }, null, 2)
}

function boot (manager, dir, cloud, spec, file) {
  const env = { ...spec.env, CLOUD_SECRETS: 'db=package-check-db', CLOUD_SECRETS_TIMEOUT_MS: '4000', ...(spec.key === true ? { GOOGLE_APPLICATION_CREDENTIALS: keyFile } : {}), ...(offline ? {} : UNROUTABLE) }
  // a boot must not read this machine's own cloud logins
  const isolated = { HOME: join(dir, 'home'), AWS_CONFIG_FILE: join(dir, 'home', 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'home', 'none'), CLOUDSDK_CONFIG: join(dir, 'home', 'gcloud'), AZURE_CONFIG_DIR: join(dir, 'home', 'azure') }
  const node = manager === 'yarn' ? [process.execPath, yarn, 'node', file] : [process.execPath, file]
  const argv = offline ? ['-n', ...node] : node.slice(1)
  const r = run(offline ? 'unshare' : process.execPath, argv, { cwd: dir, env: { ...env, ...isolated }, timeout: RUN_TIMEOUT })
  const last = r.out.trim().split('\n').filter((l) => l.startsWith('{')).pop()
  let result
  try {
    result = JSON.parse(last ?? '')
  } catch {
    check(false, `${manager} ${cloud} ${file} (${spec.name}): boots`, r.out)
    return
  }
  const codes = [result.code, ...(result.inner ?? [])]
  const notFound = /ERR_MODULE_NOT_FOUND|MODULE_NOT_FOUND|Cannot find (module|package)|SDK_MISSING/.test(`${result.message ?? ''}\n${r.out}`)
  const good = result.ok !== true && ACCEPTED.has(result.code) && !notFound && r.status === 0
  check(good, `${manager} ${cloud} ${file} (${spec.name}): the SDK loads; startup ends ${codes.join(' / ')} and the process exits`, `${r.out}`)
}

for (const cloud of args.clouds.split(',')) {
  for (const manager of managers) {
    const dir = join(work, `${manager}-${cloud}`)
    mkdirSync(join(dir, 'home'), { recursive: true })
    writeFileSync(join(dir, 'package.json'), JSON.stringify({
      name: `consumer-${cloud}`,
      private: true,
      type: 'module',
      dependencies: { 'fastify-cloud-secrets': `file:${tarball}`, fastify: dev.fastify, ...CLOUDS[cloud].sdk },
      devDependencies: { typescript: dev.typescript, '@types/node': dev['@types/node'] }
    }, null, 2))
    writeFileSync(join(dir, 'app.mjs'), ESM_APP)
    writeFileSync(join(dir, 'app.cjs'), CJS_APP)
    writeFileSync(join(dir, 'app.ts'), tsApp(cloud))
    writeFileSync(join(dir, 'tsconfig.nodenext.json'), tsconfig('nodenext'))
    writeFileSync(join(dir, 'tsconfig.bundler.json'), tsconfig('bundler'))
    let install
    if (manager === 'npm') install = run('npm', ['install', '--no-audit', '--no-fund'], { cwd: dir })
    else if (manager === 'pnpm') install = run(process.execPath, [pnpm, 'install', '--config.node-linker=isolated', '--reporter=append-only'], { cwd: dir, env: { npm_config_store_dir: join(work, 'pnpm-store') } })
    else {
      writeFileSync(join(dir, '.yarnrc.yml'), 'nodeLinker: pnp\nnpmRegistryServer: "https://registry.npmjs.org"\nenableTelemetry: false\nenableGlobalCache: false\n')
      writeFileSync(join(dir, 'yarn.lock'), '')
      install = run(process.execPath, [yarn, 'install'], { cwd: dir, env: { YARN_ENABLE_IMMUTABLE_INSTALLS: 'false', YARN_CACHE_FOLDER: join(work, 'yarn-cache') } })
    }
    check(install.status === 0, `${manager} ${cloud}: installs fastify-cloud-secrets with ${Object.keys(CLOUDS[cloud].sdk).join(' + ')} only`, install.out)
    if (install.status !== 0) continue
    check(!/fastify-cloud-secrets[^\n]*(postinstall|prepare|install script)/i.test(install.out), `${manager} ${cloud}: installing runs no script of ours`, install.out)
    if (manager === 'npm') {
      const extra = ['@aws-sdk/client-sts', '@aws-sdk/credential-providers', '@azure/core-rest-pipeline'].filter((p) => existsSync(join(dir, 'node_modules', p)) && !(cloud === 'azure' && p === '@azure/core-rest-pipeline'))
      check(extra.length === 0, `${manager} ${cloud}: nothing beyond the user's list is pulled in as a peer`, extra.join(', '))
    }
    if (manager !== 'yarn') {
      for (const mode of ['nodenext', 'bundler']) {
        const tsc = run(process.execPath, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', `tsconfig.${mode}.json`], { cwd: dir, timeout: 4 * 60_000 })
        check(tsc.status === 0, `${manager} ${cloud}: strict TypeScript (skipLibCheck: false, ${mode}) compiles with 0 errors`, tsc.out)
      }
    }
    for (const spec of CLOUDS[cloud].boots) {
      boot(manager, dir, cloud, spec, 'app.mjs')
      if (manager !== 'yarn') boot(manager, dir, cloud, spec, 'app.cjs')
    }
  }
}

if (!args.keep) rmSync(work, { recursive: true, force: true })
console.log(`\npackage check: ${results.length - failures.length} passed, ${failures.length} failed`)
if (failures.length > 0) {
  for (const f of failures) console.log(`  FAILED ${f}`)
  process.exit(1)
}
