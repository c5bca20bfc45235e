import { test } from 'tap'
import { readFileSync } from 'node:fs'
import { CloudSecretsError, configError, ERROR_CATALOG, loadFailedError, sdkMissingError } from '../../src/errors.js'
import { importFromSdk, importSdk, importSdks, requireInstalled } from '../../src/shared/sdk.js'

test('the README error table lists every code of the catalog', (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  for (const kind of Object.keys(ERROR_CATALOG)) {
    t.match(readme, new RegExp(`\\| \`FST_CLOUD_SECRETS_${kind}\` \\|`), `README documents FST_CLOUD_SECRETS_${kind}`)
  }
  t.end()
})

test('every error ends with what to do next and keeps the cause', (t) => {
  const cause = new Error('sdk said no')
  for (const kind of Object.keys(ERROR_CATALOG) as Array<keyof typeof ERROR_CATALOG>) {
    const err = new CloudSecretsError(kind, 'something happened', { cause })
    t.equal(err.code, `FST_CLOUD_SECRETS_${kind}`)
    t.match(err.message, /\nFix: \S.+$/)
    t.equal(err.cause, cause)
    t.equal(err.statusCode, 500)
  }
  const aliased = new CloudSecretsError('NOT_FOUND', 'gone', { provider: 'aws', secret: 'x' }).forAlias('a')
  t.equal(aliased.alias, 'a')
  t.equal(aliased.secret, 'x')
  t.equal(aliased.forAlias('a'), aliased)
  t.match(JSON.parse(JSON.stringify(aliased)), { code: 'FST_CLOUD_SECRETS_NOT_FOUND', alias: 'a', provider: 'aws' })
  t.end()
})

test('config and aggregate errors list every item', (t) => {
  const err = configError([{ source: 'CLOUD_SECRETS', alias: 'a', position: 3, message: 'bad' }, { source: 'AWS_REGION', message: 'worse' }])
  t.match(err.message, /2 problems/)
  t.match(err.message, /CLOUD_SECRETS, alias "a", position 3: bad/)
  t.match(err.message, /AWS_REGION: worse/)
  const agg = loadFailedError([new CloudSecretsError('THROTTLED', 't', { alias: 'x', provider: 'gcp' }), new CloudSecretsError('NOT_FOUND', 'n', { alias: 'y', provider: 'gcp' })])
  t.match(agg.message, /2 failures/)
  t.equal(agg.errors?.length, 2)
  t.end()
})

test('a missing SDK is SDK_MISSING with the npm i command', async (t) => {
  const err = await importSdk('aws', '@aws-sdk/not-installed-package').catch((e: unknown) => e) as CloudSecretsError
  t.equal(err.code, 'FST_CLOUD_SECRETS_SDK_MISSING')
  t.match(err.message, /needs the package @aws-sdk\/not-installed-package, which is not installed/)
  t.match(err.message, /Fix: run `npm i @aws-sdk\/not-installed-package` \(pnpm: `pnpm add @aws-sdk\/not-installed-package`, Yarn: `yarn add @aws-sdk\/not-installed-package`\)/)
  t.ok(err.cause)
  t.match(sdkMissingError('gcp', ['@google-cloud/secret-manager']).message, /npm i @google-cloud\/secret-manager`/)
  const mod = await importSdk<{ default: unknown }>('local', 'fastify-plugin')
  t.ok(mod.default, 'an installed package loads')
})

test('SDK_MISSING names only the packages that are really missing', async (t) => {
  const err = await importSdks('azure', ['@azure/identity', '@azure/not-installed-keyvault']).catch((e: unknown) => e) as CloudSecretsError
  t.equal(err.code, 'FST_CLOUD_SECRETS_SDK_MISSING')
  t.match(err.fix, /^run `npm i @azure\/not-installed-keyvault`/)
  t.notMatch(err.message, /@azure\/identity/, 'the installed package is not named')
  const both = await importSdks('azure', ['@azure/not-a', '@azure/not-b']).catch((e: unknown) => e) as CloudSecretsError
  t.match(both.fix, /npm i @azure\/not-a @azure\/not-b/)
  const [identity] = await importSdks<[{ DefaultAzureCredential: unknown }]>('azure', ['@azure/identity'])
  t.type(identity.DefaultAzureCredential, 'function')
  const unimported = (() => { try { requireInstalled('azure', ['@azure/identity', '@azure/not-installed-keyvault']) } catch (e) { return e } })() as CloudSecretsError
  t.equal(unimported.code, 'FST_CLOUD_SECRETS_SDK_MISSING', 'requireInstalled: the same verdict, importing nothing')
  t.match(unimported.fix, /^run `npm i @azure\/not-installed-keyvault`/)
  t.doesNotThrow(() => { requireInstalled('azure', ['@azure/identity', '@azure/keyvault-secrets']) })
})

test('importFromSdk resolves a path through the SDK\'s own tree, and a broken tree says reinstall', async (t) => {
  const signer = await importFromSdk<{ SignatureV4: unknown }>('aws', ['@aws-sdk/client-secrets-manager', '@aws-sdk/core'], '@smithy/signature-v4')
  t.type(signer.SignatureV4, 'function')
  const missingHost = await importFromSdk('aws', '@aws-sdk/not-installed-client', '@aws-sdk/core').catch((e: unknown) => e) as CloudSecretsError
  t.equal(missingHost.code, 'FST_CLOUD_SECRETS_SDK_MISSING')
  t.match(missingHost.fix, /npm i @aws-sdk\/not-installed-client/)
  const broken = await importFromSdk('aws', ['@aws-sdk/client-secrets-manager', '@aws-sdk/core'], '@smithy/not-in-the-tree').catch((e: unknown) => e) as CloudSecretsError
  t.equal(broken.code, 'FST_CLOUD_SECRETS_SDK_MISSING')
  t.match(broken.message, /@smithy\/not-in-the-tree was not found in the dependency tree of @aws-sdk\/core; reinstall @aws-sdk\/client-secrets-manager/)
  t.match(broken.fix, /^reinstall it: run `npm i @aws-sdk\/client-secrets-manager`/)
})

test('instanceof CloudSecretsError holds across two loaded copies of the module (Symbol.for brand)', async (t) => {
  const copy = await import(`../../src/errors.ts?copy=${Date.now()}`) as typeof import('../../src/errors.js')
  t.not(copy.CloudSecretsError, CloudSecretsError, 'a separately loaded copy')
  const fromCopy = new copy.CloudSecretsError('TIMEOUT', 'x')
  t.ok(fromCopy instanceof CloudSecretsError, 'an error of the other copy is ours')
  t.ok(new CloudSecretsError('TIMEOUT', 'y') instanceof copy.CloudSecretsError, 'and the other way round')
  t.notOk(new Error('plain') instanceof CloudSecretsError)
  t.notOk(({ code: 'FST_CLOUD_SECRETS_TIMEOUT' }) instanceof CloudSecretsError)
})
