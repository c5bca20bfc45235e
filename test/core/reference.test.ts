import { test } from 'tap'
import { normalizeOptions } from '../../src/options.js'
import type { CloudSecretsError } from '../../src/errors.js'
import type { CloudSecretsOptions } from '../../src/types.js'

const refs = (options: CloudSecretsOptions): unknown => normalizeOptions({ env: {}, ...options }, { pluginTimeout: 10_000 }).references.map((r) => ({ ...r }))
const problems = (options: CloudSecretsOptions): string[] => {
  try {
    normalizeOptions({ env: {}, ...options }, { pluginTimeout: 10_000 })
  } catch (err) {
    return (err as CloudSecretsError).problems?.map((p) => `${p.source}|${p.alias ?? ''}|${p.position ?? ''}|${p.message}`) ?? []
  }
  return []
}

test('native ids imply their cloud; names take the app provider', (t) => {
  t.match(refs({ provider: 'gcp', secrets: { a: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf', b: 'projects/p-123456/secrets/s1/versions/3', c: 'https://Vault1.vault.azure.cn/secrets/tls-cert/0123abcd', d: 'plain' } }), [
    { alias: 'a', provider: 'aws', id: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf' },
    { alias: 'b', provider: 'gcp', id: 'projects/p-123456/secrets/s1', version: '3' },
    { alias: 'c', provider: 'azure', id: 'https://vault1.vault.azure.cn/secrets/tls-cert', version: '0123abcd' },
    { alias: 'd', provider: 'gcp', id: 'plain' }
  ])
  t.match(refs({ provider: 'aws', secrets: { a: 'gcp://projects/my-proj/locations/europe-west1/secrets/tok', b: 'azure://https://v.vault.usgovcloudapi.net/secrets/x', c: 'local://anything-goes?optional' } }), [
    { provider: 'gcp', id: 'projects/my-proj/locations/europe-west1/secrets/tok' },
    { provider: 'azure', id: 'https://v.vault.usgovcloudapi.net/secrets/x' }
  ])
  t.end()
})

test('params and keys', (t) => {
  t.match(refs({ provider: 'aws', secrets: { a: 'api-key?stage=AWSPREVIOUS', b: 'prod/db?version=6f1e-22aa#creds.password', c: 'x?optional=true', d: 'y?optional=false' } }), [
    { alias: 'a', id: 'api-key', stage: 'AWSPREVIOUS', optional: false },
    { alias: 'b', id: 'prod/db', version: '6f1e-22aa', key: ['creds', 'password'] },
    { alias: 'c', optional: true },
    { alias: 'd', optional: false }
  ])
  t.end()
})

test('parameters after the #key mean the same as before it (name#key?optional = name?optional#key)', (t) => {
  t.match(refs({ provider: 'aws', secrets: { a: 'prod/db#password?optional', b: 'prod/db?optional#password', c: 'prod/db#creds.user?stage=AWSPREVIOUS&optional', d: 'prod/db?version=7#k?optional', e: 'prod/db#odd?key' } }), [
    { alias: 'a', id: 'prod/db', key: ['password'], optional: true },
    { alias: 'b', id: 'prod/db', key: ['password'], optional: true },
    { alias: 'c', id: 'prod/db', key: ['creds', 'user'], stage: 'AWSPREVIOUS', optional: true },
    { alias: 'd', id: 'prod/db', key: ['k'], version: '7', optional: true },
    { alias: 'e', id: 'prod/db', key: ['odd?key'], optional: false }
  ], 'a ? followed by something else than a known parameter stays part of the key')
  t.same(problems({ provider: 'aws', secrets: { a: 'x?optional#k?optional', b: 'y#k?version=' } }), [
    'options.secrets.a|a|14|parameter "optional" is given twice',
    'options.secrets.b|b|5|version needs a value made of letters, digits and _.:+@/- (e.g. version=3)'
  ], 'problems of trailing parameters point into them')
  t.end()
})

test('every problem names source, alias and 1-based position in what was written', (t) => {
  const env = { CLOUD_SECRETS_PROVIDER: 'aws', CLOUD_SECRETS: 'ok=name, bad=na me?version=1&stage=X#a..b,\nnoeq, dup=a, dup=b' }
  const list = problems({ env })
  t.same(list, [
    'CLOUD_SECRETS||44|"noeq" is not alias=reference',
    'CLOUD_SECRETS|bad|16|a reference cannot contain white space or control characters',
    'CLOUD_SECRETS|bad|39|empty segment in the JSON key path (write #a.b.c)',
    'CLOUD_SECRETS|bad|14|use either version= or stage=, not both',
    'CLOUD_SECRETS|dup|57|the alias is defined twice'
  ])
  t.equal(env.CLOUD_SECRETS[15], ' ', 'position 16 is the space inside the id')
  t.equal(env.CLOUD_SECRETS[13], 'n', 'position 14 is where the id of "bad" starts')
  t.equal(env.CLOUD_SECRETS.slice(56, 59), 'dup', 'position 57 is the second "dup"')
  t.end()
})

test('per-cloud id grammar', (t) => {
  const all = (list: string[], patterns: RegExp[]): void => { for (const p of patterns) t.ok(list.some((l) => p.test(l)), `${String(p)} in ${list.join(' / ')}`) }
  all(problems({ provider: 'aws', secrets: { a: 'arn:aws:secretsmanager:eu-west-1:12:secret:x', b: 'has space' } }), [/^options.secrets.a\|a\|1\|not a Secrets Manager ARN/, /b\|4\|.*white space/])
  t.match(problems({ provider: 'gcp', secrets: { a: 'projects/p/bad', b: 'ok?version=latest', c: 'x?version=-1', d: 'projects/pp-123/secrets/s/versions/2?version=3', e: 'bad.id' } }).join('\n'),
    /a\|.*not a Secret Manager resource name[\s\S]*c\|.*is not a version number[\s\S]*d\|.*disagrees[\s\S]*e\|.*1–255 characters/)
  all(problems({ provider: 'azure', env: { AZURE_KEYVAULT_URL: 'https://v.vault.azure.net' }, secrets: { a: 'https://v.vault.azure.net/keys/x', b: 'https://v.vault.azure.net:8443/secrets/x', c: 'bad_name', d: 'http://v.vault.azure.net/secrets/x', e: 'ok?version=abc!' } }),
    [/^\S+\|a\|.*VAULT-HOST\/secrets\/NAME/, /\|b\|.*no port/, /\|c\|.*letters, digits and -/, /\|d\|.*must use https/, /\|e\|.*version needs a value/])
  t.match(problems({ provider: 'azure', secrets: { a: 'short-name' } }).join('\n'), /short Key Vault secret names need the default vault/)
  t.match(problems({ provider: 'local', secrets: { a: 'x?version=2', b: 'y?stage=S' } }).join('\n'), /no versions[\s\S]*AWS version stage/)
  t.match(problems({ provider: 'aws', secrets: { a: 'foo://x', b: '', c: '?optional', d: 'x?what=1&&optional&optional' } }).join('\n'), /unknown scheme[\s\S]*empty[\s\S]*id is empty[\s\S]*unknown parameter "what"[\s\S]*empty parameter[\s\S]*given twice/)
  t.end()
})

test('other settings are validated together', (t) => {
  const list = problems({
    env: {
      CLOUD_SECRETS_PROVIDER: 'digitalocean',
      CLOUD_SECRETS_TIMEOUT_MS: 'soon',
      CLOUD_SECRETS_REFRESH_MS: '5',
      AWS_REGION: 'moon-1',
      AZURE_KEYVAULT_URL: 'http://v.vault.azure.net',
      GOOGLE_CLOUD_PROJECT: 'Bad Project',
      CLOUD_SECRETS_CHECK_SCOPES: 'ok-scope'
    }
  }).join('\n')
  for (const m of [/CLOUD_SECRETS_PROVIDER\|\|\|"digitalocean" is not a provider/, /CLOUD_SECRETS_TIMEOUT_MS.*not a whole number/, /CLOUD_SECRETS_REFRESH_MS.*from 1000/, /AWS_REGION.*not an AWS region/, /AZURE_KEYVAULT_URL.*needs https/, /GOOGLE_CLOUD_PROJECT.*not a GCP project id/]) t.match(list, m)
  t.match(problems({ timeoutMs: -1, secrets: [] as never, local: { values: { a: 1 } as never }, checks: { scopes: 'x' as never, custom: 'y' as never } }).join('\n'), /options.timeoutMs[\s\S]*options.secrets[\s\S]*options.local.values.a[\s\S]*options.checks.scopes[\s\S]*options.checks.custom/)
  t.match(problems({ azure: { vaultUrl: 'https://v.vault.azure.net/path' } }).join('\n'), /no path or query/)
  t.match(problems({ env: { K_SERVICE: 'svc', WEBSITE_SITE_NAME: 'site' }, secrets: { a: 'x' } }).join('\n'), /markers of several clouds.*K_SERVICE → gcp.*WEBSITE_SITE_NAME → azure/)
  t.end()
})

test('auto picks the cloud from its platform marker; explicit schemes need no provider', (t) => {
  const cfg = normalizeOptions({ env: { AWS_LAMBDA_FUNCTION_NAME: 'fn', CLOUD_SECRETS: 'a=x' } }, { pluginTimeout: 10_000 })
  t.equal(cfg.provider, 'aws')
  t.equal(cfg.providerChosenBy, 'auto (AWS_LAMBDA_FUNCTION_NAME is set)')
  const explicit = normalizeOptions({ env: { CLOUD_SECRETS: 'a=gcp://s, b=arn:aws:secretsmanager:us-east-1:123456789012:secret:b' } }, { pluginTimeout: 10_000 })
  t.equal(explicit.provider, undefined)
  t.same(explicit.providers, ['gcp', 'aws'])
  t.equal(normalizeOptions({ provider: 'local' }, { pluginTimeout: 0 }).timeoutMs, 10_000, 'pluginTimeout 0: 10 s default')
  t.equal(normalizeOptions({ provider: 'local' }, { pluginTimeout: 30_000 }).timeoutMs, 29_000)
  t.end()
})
