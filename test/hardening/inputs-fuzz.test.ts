import assert from 'node:assert/strict'
import fc from 'fast-check'
import { test } from 'tap'
import { normalizeOptions } from '../../src/options.js'
import type { ProviderName } from '../../src/types.js'
import { assertConfigRejection, assertPrototypesIntact, snapshotPrototypes } from './helpers.js'

// Every other input the core reads: numbers, URLs, project ids, regions, scopes, the provider
// name, and option values of the wrong type. Each is accepted with a correct value or rejected
// with a coded CONFIG problem naming where it came from; nothing else escapes.

const RUNS = 150
const PROVIDERS: ProviderName[] = ['aws', 'gcp', 'azure', 'local']

const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ maxLength: 40 })
)

function normalize (options: Record<string, unknown>, pluginTimeout = 0): { config?: ReturnType<typeof normalizeOptions>, error?: unknown } {
  try {
    return { config: normalizeOptions(options as never, { pluginTimeout }) }
  } catch (error) {
    return { error }
  }
}

const numberText = fc.oneof(
  fc.nat().map(String),
  fc.integer().map(String),
  fc.double().map(String),
  fc.constantFrom('', ' ', '0', '1', '999', '1000', '1500', '900000', '900001', '604800000', '604800001', '1e3', '0x10', '30s', '15m', '1h', '999ms', '0s', '169h', '١٢٣', '12 ', ' 12', '+5', '-5', '5.0', '9'.repeat(400), 'NaN', 'Infinity', '__proto__'),
  text
)

test('CLOUD_SECRETS_TIMEOUT_MS and CLOUD_SECRETS_REFRESH_MS: whole numbers in range, else a coded problem', async (t) => {
  const before = snapshotPrototypes()
  fc.assert(fc.property(numberText, numberText, (timeout, refresh) => {
    const { config, error } = normalize({ provider: 'local', env: { CLOUD_SECRETS_TIMEOUT_MS: timeout, CLOUD_SECRETS_REFRESH_MS: refresh } })
    const expected = (value: string, min: number, max: number, units = false): number | undefined | 'bad' => {
      if (value.trim().length === 0) return undefined
      const m = (units ? /^(\d{1,16})(ms|s|m|h)?$/ : /^(\d+)()$/).exec(value.trim())
      if (m === null) return 'bad'
      const n = Number(m[1]) * ({ '': 1, ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as Record<string, number>)[m[2] ?? '']
      return Number.isSafeInteger(n) && n >= min && n <= max ? n : 'bad'
    }
    const t1 = expected(timeout, 1, 900_000)
    const r1 = expected(refresh, 1000, 604_800_000, true)
    if (t1 === 'bad' || r1 === 'bad') {
      const problems = assertConfigRejection(error)
      assert.deepEqual(problems.map((p) => p.source).sort(), [...(t1 === 'bad' ? ['CLOUD_SECRETS_TIMEOUT_MS'] : []), ...(r1 === 'bad' ? ['CLOUD_SECRETS_REFRESH_MS'] : [])].sort())
    } else {
      assert.equal(error, undefined)
      assert.equal(config?.timeoutMs, t1 ?? 10_000)
      assert.equal(config?.refresh?.intervalMs, r1)
    }
    assertPrototypesIntact(before)
  }), { numRuns: RUNS })
  t.pass()
})

const urlText = fc.oneof(
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  fc.webUrl().map((u) => u.replace(/^http:/, 'https:')),
  fc.domain().map((d) => `https://${d}`),
  fc.constantFrom('https://v.vault.azure.net', 'https://v.vault.azure.net/', 'HTTPS://V.Vault.Azure.Net', 'https://v.vault.azure.net/path', 'https://u:p@v.vault.azure.net',
    'http://v.vault.azure.net', 'https://v.vault.azure.net?x=1', 'https://v.vault.azure.net:8443', 'https://[::1]', 'https://', 'v.vault.azure.net', 'javascript:alert(1)',
    'file:///etc/passwd', 'https://xn--nxasmq6b.vault.azure.net', 'https://ü.vault.azure.net', `https://${'a'.repeat(5000)}.net`, '__proto__'),
  text
)

test('AZURE_KEYVAULT_URL: only an https vault origin is accepted, normalized to lower case', async (t) => {
  const before = snapshotPrototypes()
  fc.assert(fc.property(urlText, (url) => {
    const { config, error } = normalize({ provider: 'azure', env: { AZURE_KEYVAULT_URL: url, CLOUD_SECRETS: 'a=name' } })
    if (error !== undefined) {
      const problems = assertConfigRejection(error)
      assert.ok(problems.every((p) => p.source === 'AZURE_KEYVAULT_URL'), 'the problem names AZURE_KEYVAULT_URL')
      return
    }
    const vault = config?.azure.vaultUrl as string
    assert.match(vault, /^https:\/\/[^/?#@]+$/)
    assert.equal(vault, vault.toLowerCase())
    const parsed = new URL(url.trim())
    assert.equal(parsed.protocol, 'https:')
    assert.ok(parsed.username === '' && parsed.password === '' && parsed.search === '' && parsed.pathname === '/')
    assertPrototypesIntact(before)
  }), { numRuns: RUNS })
  t.pass()
})

const projectText = fc.oneof(
  fc.stringMatching(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/),
  fc.stringMatching(/^\d{1,14}$/),
  fc.constantFrom('my-project', 'example.com:my-project', 'My-Project', 'abc', 'a'.repeat(31), 'project_1', '-abcdef', '__proto__', 'constructor', 'p r o j e c t'),
  text
)
const regionText = fc.oneof(
  fc.constantFrom('us-east-1', 'eu-west-1', 'us-gov-west-1', 'cn-north-1', 'ap-southeast-2', 'US-EAST-1', 'us-east', 'useast1', 'us-east-1 ', '__proto__', `${'a-'.repeat(50000)}!`),
  fc.stringMatching(/^[a-z]{2}(-[a-z]{1,10}){1,3}-\d{1,2}$/),
  text
)
const scopesText = fc.oneof(
  fc.array(fc.constantFrom('https://database.windows.net/.default', 'https://www.googleapis.com/auth/cloud-platform', 'api://app/.default', 'x y', '', '\u0000', 'é', 'a'.repeat(600)), { maxLength: 4 }).map((s) => s.join(',')),
  text
)

test('regions, project ids, scopes and the provider name: accepted or rejected by name, never a crash', async (t) => {
  const before = snapshotPrototypes()
  fc.assert(fc.property(regionText, projectText, scopesText, fc.oneof(fc.constantFrom<string>(...PROVIDERS, 'auto', 'AWS', ' gcp ', '', '__proto__'), text), (region, project, scopes, provider) => {
    const env = { AWS_REGION: region, GOOGLE_CLOUD_PROJECT: project, CLOUD_SECRETS_CHECK_SCOPES: scopes, CLOUD_SECRETS_PROVIDER: provider, K_SERVICE: 'svc' }
    const { config, error } = normalize({ env })
    if (error !== undefined) {
      const problems = assertConfigRejection(error)
      assert.ok(problems.every((p) => ['AWS_REGION', 'GOOGLE_CLOUD_PROJECT', 'CLOUD_SECRETS_CHECK_SCOPES', 'CLOUD_SECRETS_PROVIDER'].includes(p.source)), problems.map((p) => p.source).join())
      return
    }
    const c = config as NonNullable<typeof config>
    if (c.aws.region !== undefined) assert.match(c.aws.region, /^[a-z]{2}(?:-[a-z]+)+-\d+$/)
    if (c.gcp.projectId !== undefined) assert.ok(c.gcp.projectId.length <= 100 && !/\s/.test(c.gcp.projectId))
    for (const scope of c.checks.scopes) assert.match(scope, /^[\x21-\x7e]{1,512}$/)
    if (c.checks.scopes.length > 0) assert.ok(c.provider === 'azure' || c.provider === 'gcp', 'scopes only on azure and gcp')
    assertPrototypesIntact(before)
  }), { numRuns: RUNS })
  t.pass()
})

test('options of any type: a coded problem per wrong value, never a TypeError', async (t) => {
  const before = snapshotPrototypes()
  const hostile = fc.constantFrom<unknown>(
    JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}'),
    new Map([['a', 'b']]), [], ['a'], 5, -1, Number.NaN, '', 'x', null, true, Symbol('s'), 10n, () => 'f', new Date(0), Object.create(null)
  )
  const value = fc.oneof(fc.anything({ withNullPrototype: true, withMap: true, withSet: true, withBigInt: true, withDate: true, withTypedArray: true, withSparseArray: true }), hostile)
  const optionsArb = fc.record({
    provider: value,
    secrets: value,
    timeoutMs: value,
    refresh: value,
    aws: fc.oneof(value, fc.record({ region: value })),
    azure: fc.oneof(value, fc.record({ vaultUrl: value })),
    gcp: fc.oneof(value, fc.record({ projectId: value })),
    local: fc.oneof(value, fc.record({ file: value, values: value })),
    checks: fc.oneof(value, fc.record({ scopes: value, custom: value })),
    env: fc.oneof(value, fc.record({ CLOUD_SECRETS: value, CLOUD_SECRETS_PROVIDER: value, AWS_REGION: value, CLOUD_SECRETS_TIMEOUT_MS: value }))
  }, { requiredKeys: [] })
  fc.assert(fc.property(optionsArb, (options) => {
    const { config, error } = normalize(options, 10_000)
    if (error !== undefined) assertConfigRejection(error)
    else {
      assert.ok(Object.isFrozen(config))
      if (config?.local.file !== undefined) assert.equal(typeof config.local.file, 'string', 'a values file is a path, never a file descriptor')
      if (config?.aws.region !== undefined) assert.equal(typeof config.aws.region, 'string')
      if (config?.gcp.projectId !== undefined) assert.equal(typeof config.gcp.projectId, 'string')
    }
    assertPrototypesIntact(before)
  }), { numRuns: RUNS })
  t.pass()
})

test('regression: wrongly typed options are listed problems (no TypeError, no fd as a path)', async (t) => {
  const cases: Array<[Record<string, unknown>, string[]]> = [
    [{ provider: 'local', aws: { region: 5 } }, ['options.aws.region']],
    [{ provider: 'local', gcp: { projectId: 5 } }, ['options.gcp.projectId']],
    [{ provider: 'local', local: { file: 5 } }, ['options.local.file']],
    [{ provider: 'local', azure: { vaultUrl: {} } }, ['options.azure.vaultUrl']],
    [{ provider: 'local', aws: 'eu-west-1', checks: 5, local: [] }, ['options.aws', 'options.checks', 'options.local']],
    [{ provider: 'local', env: 'CLOUD_SECRETS=a=b' }, ['options.env']],
    [{ provider: 'local', env: { CLOUD_SECRETS_PROVIDER: 5, CLOUD_SECRETS_TIMEOUT_MS: 100 } }, ['options.env.CLOUD_SECRETS_PROVIDER', 'options.env.CLOUD_SECRETS_TIMEOUT_MS']],
    [{ provider: 'local', secrets: new Map([['a', 'b']]) }, ['options.secrets']],
    [{ provider: 'local', local: { values: new Map([['a', 'b']]) } }, ['options.local.values']],
    [{ provider: Object.create(null) }, ['options.provider']],
    [{ provider: 'azure', checks: { scopes: [Object.create(null), 5] } }, ['options.checks.scopes', 'options.checks.scopes']]
  ]
  for (const [options, sources] of cases) {
    const { error } = normalize({ env: {}, ...options })
    t.same(assertConfigRejection(error).map((p) => p.source).sort(), [...sources].sort(), JSON.stringify(options))
  }
})

test('regression: token scopes on a provider without scopes are reported with the other problems', async (t) => {
  const { error } = normalize({ provider: 'aws', env: { CLOUD_SECRETS_CHECK_SCOPES: 'https://x/.default', AWS_REGION: 'nowhere', CLOUD_SECRETS: 'bad alias=x' } })
  const problems = assertConfigRejection(error)
  t.same(problems.map((p) => p.source).sort(), ['AWS_REGION', 'CLOUD_SECRETS', 'CLOUD_SECRETS_CHECK_SCOPES'])
})
