import assert from 'node:assert/strict'
import fc from 'fast-check'
import { test } from 'tap'
import { normalizeOptions } from '../../src/options.js'
import { parseReference, resolveReference, splitSecretsEnv } from '../../src/reference.js'
import type { ProviderName } from '../../src/types.js'
import { assertConfigRejection, assertPrototypesIntact, snapshotPrototypes } from './helpers.js'

// Property-based tests of the reference grammar and the CLOUD_SECRETS env form. Every input is
// either accepted (and the result is sane) or rejected with a coded CONFIG error whose problems
// point at what the user wrote; nothing else may escape, and no prototype may change.

const RUNS = 300
const PROVIDERS: ProviderName[] = ['aws', 'gcp', 'azure', 'local']
const DANGEROUS = ['__proto__', 'constructor', 'prototype', 'toJSON', 'then', 'hasOwnProperty', 'valueOf', 'toString']

const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ unit: 'grapheme', maxLength: 30 }),
  fc.string({ maxLength: 60 })
)

const aliasArb = fc.oneof(
  fc.stringMatching(/^[A-Za-z_$][A-Za-z0-9_$-]{0,16}$/),
  fc.constantFrom(...DANGEROUS, '', '1abc', 'a b', 'é', '😀', 'a\u0000b', 'x'.repeat(200), '\u202eevil', '\u001b[31mred'),
  fc.string({ unit: 'grapheme', maxLength: 8 })
)

const idArb = fc.oneof(
  fc.constantFrom(
    'prod/db', 'jwt-signing-key', 'arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf', 'arn:aws:bad',
    'arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x', 'projects/my-proj/secrets/s1', 'projects/p/secrets/s/versions/3',
    'projects/my-project/locations/us-east1/secrets/s', 'projects/123/secrets/s/versions/latest', 'projects//secrets/',
    'https://myvault.vault.azure.net/secrets/name', 'https://myvault.vault.azure.net/secrets/name/abc123',
    'HTTPS://MyVault.Vault.Azure.Net/secrets/n', 'https://u:p@v.vault.azure.net/secrets/x', 'https://v.vault.azure.net:444/secrets/x',
    'https://v.vault.azure.net/keys/x', 'https://[::1/secrets/x', 'myvault.vault.azure.net/secrets/x', '', ...DANGEROUS, 'x'.repeat(600)
  ),
  fc.stringMatching(/^[A-Za-z0-9/_+=.@!-]{1,30}$/),
  anyText
)

const paramArb = fc.constantFrom(
  'version=3', 'version=', 'version', 'version=latest', 'version=a b', 'version=abc123', 'stage=AWSPREVIOUS', 'stage=',
  'optional', 'optional=true', 'optional=false', 'optional=maybe', 'foo=bar', '', '__proto__=1', 'constructor', 'prototype=x',
  `version=${'9'.repeat(300)}`
)
const keyArb = fc.array(fc.oneof(fc.constantFrom('a', 'password', 'db', '', 'ü', 'x y', '0', ...DANGEROUS), fc.string({ maxLength: 5 })), { maxLength: 5 })

const schemeArb = fc.constantFrom('', '', '', 'aws://', 'gcp://', 'azure://', 'local://', 'https://', 'http://', 'ftp://', 'AWS://', 'x+y://', '://')

const referenceArb = fc.oneof(
  fc.tuple(schemeArb, idArb, fc.array(paramArb, { maxLength: 3 }), fc.option(keyArb)).map(([scheme, id, params, key]) =>
    `${scheme}${id}${params.length > 0 ? `?${params.join('&')}` : ''}${key !== null ? `#${key.join('.')}` : ''}`),
  anyText
)

const spaceArb = fc.constantFrom('', '', ' ', '  ', '\t', '\u00a0', '\ufeff')
const entryArb = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(spaceArb, aliasArb, spaceArb, referenceArb, spaceArb).map(([a, alias, b, ref, c]) => `${a}${alias}${b}=${ref}${c}`) },
  { weight: 1, arbitrary: anyText }
)
const separatorArb = fc.constantFrom(',', '\n', ', ', '\r\n', ',,', ' \n ', ',\n')
const cloudSecretsArb = fc.oneof(
  { weight: 5, arbitrary: fc.tuple(fc.array(entryArb, { maxLength: 8 }), fc.array(separatorArb, { minLength: 8, maxLength: 8 })).map(([entries, seps]) => entries.map((e, i) => `${e}${i < entries.length - 1 ? seps[i] : ''}`).join('')) },
  { weight: 1, arbitrary: anyText }
)

const baseEnv = { AZURE_KEYVAULT_URL: 'https://v.vault.azure.net', GOOGLE_CLOUD_PROJECT: 'my-project', AWS_REGION: 'eu-west-1' }

test('CLOUD_SECRETS: any text is accepted sanely or rejected with positioned, coded problems', async (t) => {
  const before = snapshotPrototypes()
  let accepted = 0
  let rejected = 0
  fc.assert(fc.property(cloudSecretsArb, fc.constantFrom(...PROVIDERS), (input, provider) => {
    let config
    try {
      config = normalizeOptions({ provider, env: { ...baseEnv, CLOUD_SECRETS: input } }, { pluginTimeout: 10_000 })
    } catch (err) {
      assertConfigRejection(err, input)
      rejected++
      assertPrototypesIntact(before)
      return
    }
    accepted++
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.references))
    const aliases = new Set<string>()
    for (const ref of config.references) {
      assert.ok(!aliases.has(ref.alias), 'aliases are unique')
      aliases.add(ref.alias)
      assert.ok(input.includes(ref.alias), 'each alias was written by the user')
      assert.ok(input.includes(ref.raw), 'each raw reference was written by the user')
      assert.ok(!DANGEROUS.slice(0, 5).includes(ref.alias), 'reserved names never become aliases')
      assert.ok(PROVIDERS.includes(ref.provider))
      assert.ok(ref.id.length > 0)
      assert.ok(Object.isFrozen(ref))
    }
    assertPrototypesIntact(before)
  }), { numRuns: RUNS })
  t.ok(accepted > 10, `some generated configs are valid (${accepted})`)
  t.ok(rejected > 10, `some generated configs are rejected (${rejected})`)
})

test('parseReference/resolveReference: never throw; problems point inside the reference text', async (t) => {
  const before = snapshotPrototypes()
  fc.assert(fc.property(aliasArb, referenceArb, fc.nat({ max: 50 }), fc.constantFrom(...PROVIDERS), (alias, text, offset, provider) => {
    const parsed = parseReference(alias, text, 'options.secrets.x', offset)
    for (const p of parsed.problems) {
      assert.equal(p.alias, alias)
      assert.equal(p.source, 'options.secrets.x')
      assert.ok(p.position !== undefined && p.position >= offset + 1 && p.position <= offset + Math.max(1, text.length), `position ${String(p.position)} is inside "${text.slice(0, 30)}" (offset ${offset})`)
    }
    if (parsed.ref === undefined) { assert.ok(parsed.problems.length > 0); return }
    assert.equal(parsed.problems.length, 0)
    assert.equal(parsed.ref.raw, text)
    assert.ok(parsed.ref.idPosition >= offset + 1 && parsed.ref.idPosition <= offset + text.length)
    const resolved = resolveReference(alias, parsed.ref, parsed.ref.provider ?? provider, 'options.secrets.x')
    for (const p of resolved.problems) assert.equal(p.position, parsed.ref.idPosition)
    if (resolved.ref !== undefined) {
      assert.ok(Object.isFrozen(resolved.ref))
      if (resolved.ref.key !== undefined) assert.ok(resolved.ref.key.every((segment) => segment.length > 0))
    }
    assertPrototypesIntact(before)
  }), { numRuns: RUNS })
  t.pass('no input escaped the parser')
})

test('splitSecretsEnv: positions point at the alias and at the reference as written', async (t) => {
  fc.assert(fc.property(cloudSecretsArb, (input) => {
    const { entries, problems } = splitSecretsEnv(input)
    for (const e of entries) {
      assert.ok(input.startsWith(e.alias, e.aliasPosition - 1), 'aliasPosition points at the alias')
      if (e.reference.length > 0) assert.ok(input.startsWith(e.reference, e.referenceOffset), 'referenceOffset is where the reference starts')
      else assert.equal(input[e.referenceOffset], '=', 'an empty reference is located at its "="')
    }
    for (const p of problems) assert.ok(p.position !== undefined && p.position >= 1 && p.position <= input.length)
  }), { numRuns: RUNS })
  t.pass('positions are consistent')
})

test('regression: problems at the end of the input point at a character that is there', async (t) => {
  const cases: Array<[string, string]> = [
    ['a=', '='], // empty reference
    ['a=aws://', '/'], // empty id after the scheme
    ['a=foo#', '#'], // empty key path
    ['a=foo#x.', '.'], // empty last key segment
    ['a=foo?', '?'], // stray ?
    ['a=foo?optional&', '&'], // stray &
    ['ok=x, b=foo#a..b', '.'], // empty middle segment
    ['a=foo?&optional', '&'] // empty first parameter
  ]
  for (const [input, expected] of cases) {
    let caught: unknown
    try { normalizeOptions({ provider: 'local', env: { CLOUD_SECRETS: input } }, { pluginTimeout: 10_000 }) } catch (err) { caught = err }
    const problems = assertConfigRejection(caught, input)
    t.equal(problems.length, 1, `${input}: one problem`)
    t.equal(input[(problems[0].position as number) - 1], expected, `${JSON.stringify(input)}: position ${String(problems[0].position)} points at "${expected}"`)
  }
})

test('__proto__, constructor, prototype as aliases are rejected by name and position, without pollution', async (t) => {
  const before = snapshotPrototypes()
  const input = 'ok=db, __proto__=x, constructor=y,\nprototype=z, toJSON=w, then=v'
  let caught: unknown
  try { normalizeOptions({ provider: 'local', env: { CLOUD_SECRETS: input } }, { pluginTimeout: 10_000 }) } catch (err) { caught = err }
  const problems = assertConfigRejection(caught, input)
  t.same(problems.map((p) => p.alias), ['__proto__', 'constructor', 'prototype', 'toJSON', 'then'])
  t.same(problems.map((p) => p.position), ['__proto__=', 'constructor=', 'prototype=', 'toJSON=', 'then='].map((a) => input.indexOf(a) + 1))
  // the option form, with an own "__proto__" key as JSON.parse makes it
  let caught2: unknown
  try { normalizeOptions({ provider: 'local', secrets: JSON.parse('{"__proto__":"x","constructor":"y","ok":"db"}') }, { pluginTimeout: 10_000 }) } catch (err) { caught2 = err }
  const problems2 = assertConfigRejection(caught2)
  t.same(problems2.map((p) => p.alias), ['__proto__', 'constructor'])
  assertPrototypesIntact(before)
})

test('huge and unicode CLOUD_SECRETS: bounded error, quick answer', async (t) => {
  const many = Array.from({ length: 1500 }, (_, i) => `a${i}=local://s${i}`).join(',')
  const started = Date.now()
  let caught: unknown
  try { normalizeOptions({ provider: 'local', env: { CLOUD_SECRETS: many } }, { pluginTimeout: 10_000 }) } catch (err) { caught = err }
  const problems = assertConfigRejection(caught, many)
  t.match(problems[0].message, /at most 1000 secrets/)
  t.equal(problems[0].source, 'CLOUD_SECRETS')

  const bad = Array.from({ length: 5000 }, (_, i) => `bad alias ${i}=x`).join('\n')
  try { normalizeOptions({ provider: 'local', env: { CLOUD_SECRETS: bad } }, { pluginTimeout: 10_000 }) } catch (err) { caught = err }
  const all = assertConfigRejection(caught, bad)
  t.equal(all.length, 5000, 'every problem is kept in err.problems')
  t.ok((caught as Error).message.length < 20_000, 'the message lists the first ones and says how many more')
  t.match((caught as Error).message, /and 4900 more/)

  const blob = `${'x'.repeat(1_000_000)}=${'y'.repeat(1_000_000)}`
  try { normalizeOptions({ provider: 'local', env: { CLOUD_SECRETS: blob } }, { pluginTimeout: 10_000 }) } catch (err) { caught = err }
  assertConfigRejection(caught, blob)
  t.ok((caught as Error).message.length < 2000, 'a megabyte alias is not echoed whole')

  const unicode = 'clé=local://naïve, 😀=x, ok=local://日本語#键.值'
  try { normalizeOptions({ provider: 'local', env: { CLOUD_SECRETS: unicode } }, { pluginTimeout: 10_000 }) } catch (err) { caught = err }
  t.same(assertConfigRejection(caught, unicode).map((p) => p.alias), ['clé', '😀'])
  t.ok(Date.now() - started < 5000, 'answers quickly')
})

test('control characters and bidi overrides in config text are shown escaped in the message', async (t) => {
  const input = 'a\u001b[2J\u202e=x, b=x\u0007y'
  let caught: unknown
  try { normalizeOptions({ provider: 'local', env: { CLOUD_SECRETS: input } }, { pluginTimeout: 10_000 }) } catch (err) { caught = err }
  assertConfigRejection(caught, input)
  const message = (caught as Error).message
  t.notOk(/[\u0000-\u0009\u000b-\u001f\u202e]/.test(message), 'no raw control character reaches the message') // eslint-disable-line no-control-regex
  t.match(message, /\\u001b/)
  t.match(message, /\\u202e/)
})
