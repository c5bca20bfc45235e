import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseEnv } from 'node:util'
import fc from 'fast-check'
import Fastify from 'fastify'
import { test, type Test } from 'tap'
import cloudSecrets, { CloudSecretsError } from '../../src/index.js'
import { extractKey } from '../../src/json-key.js'
import { assertNoLeak, captureLogs, errorText, randomSecret } from '../helpers/capture.js'
import { assertConfigRejection, assertPrototypesIntact, snapshotPrototypes } from './helpers.js'

// The local provider's files (JSON and .env) and JSON secret bodies read with #key paths,
// fuzzed end to end through a real Fastify instance.

const DANGEROUS = ['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty']
const keyArb = fc.oneof({ weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 6 }) }, { weight: 1, arbitrary: fc.constantFrom(...DANGEROUS, 'ü', '😀', '0') })
/** JSON text with dangerous keys, as a hostile secret payload would be */
const jsonTextArb = fc.jsonValue({ maxDepth: 4 }).chain((value) => fc.constantFrom(...DANGEROUS).map((k) => {
  const text = JSON.stringify(value)
  // splice an own "__proto__"-like key into objects, which JSON.parse keeps as own data
  return text.startsWith('{') && text.length > 2 ? `{"${k}":{"polluted":true,"a":"p"},${text.slice(1)}` : text
}))

/** An oracle independent of extractKey: own data properties only. */
function walk (text: string, path: readonly string[]): { ok: boolean, value?: string } {
  let node: unknown
  try { node = JSON.parse(text) } catch { return { ok: false } }
  if (typeof node !== 'object' || node === null) return { ok: false }
  for (const segment of path) {
    if (typeof node !== 'object' || node === null) return { ok: false }
    const desc = Object.getOwnPropertyDescriptor(node, segment)
    if (desc === undefined) return { ok: false }
    node = desc.value
  }
  if (node === null || node === undefined) return { ok: false }
  return { ok: true, value: typeof node === 'string' ? node : typeof node === 'object' ? JSON.stringify(node) : String(node) }
}

function tempDir (t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'fcs-hardening-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function start (options: Record<string, unknown>): Promise<{ app: ReturnType<typeof Fastify>, error?: unknown, logs: ReturnType<typeof captureLogs> }> {
  const logs = captureLogs()
  const app = Fastify({ logger: logs.logger })
  try {
    await app.register(cloudSecrets, { env: {}, ...options } as never)
    await app.ready()
    return { app, logs }
  } catch (error) {
    await app.close().catch(() => {})
    return { app, error, logs }
  }
}

test('extractKey: any JSON text and any path give the own-property value or a reason, never a throw', async (t) => {
  const before = snapshotPrototypes()
  fc.assert(fc.property(fc.oneof(jsonTextArb, fc.string()), fc.array(keyArb, { minLength: 1, maxLength: 4 }), (text, path) => {
    const result = extractKey(text, path)
    const expected = walk(text, path)
    assert.equal(result.ok, expected.ok)
    if (result.ok) assert.equal(result.value, expected.value)
    assertPrototypesIntact(before)
  }), { numRuns: 500 })
  t.pass()
})

test('regression: a JSON body nested deeper than JSON.stringify can go is a reason, not a RangeError', async (t) => {
  const depth = 20_000
  const text = `{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`
  t.same(extractKey(text, ['a']), { ok: false, reason: 'not-json' })
  const { error } = await start({ provider: 'local', secrets: { deep: 'local://doc#a' }, local: { values: { doc: text } } })
  t.ok(error instanceof CloudSecretsError, 'startup fails with a coded error')
  t.equal((error as CloudSecretsError).code, 'FST_CLOUD_SECRETS_LOAD_FAILED')
})

test('#key paths through the whole plugin: the value at the own path, or a coded NOT_FOUND', async (t) => {
  const before = snapshotPrototypes()
  await fc.assert(fc.asyncProperty(jsonTextArb, fc.array(fc.oneof(keyArb.filter((k) => !/[\s\u0000-\u001f\u007f#?&.]/.test(k))), { minLength: 1, maxLength: 3 }), async (text, path) => { // eslint-disable-line no-control-regex
    const { app, error } = await start({ provider: 'local', secrets: { v: `local://doc#${path.join('.')}` }, local: { values: { doc: text } } })
    const expected = walk(text, path)
    if (expected.ok) {
      assert.equal(error, undefined)
      assert.equal(app.secrets.v, expected.value)
      await app.close()
    } else {
      assert.ok(error instanceof CloudSecretsError)
      assert.equal(error.code, 'FST_CLOUD_SECRETS_LOAD_FAILED')
      assert.equal(error.errors?.[0].code, 'FST_CLOUD_SECRETS_NOT_FOUND')
      assert.equal(error.errors?.[0].alias, 'v')
    }
    assertPrototypesIntact(before)
  }), { numRuns: 60 })
  t.pass()
})

const nameArb = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_/-]{1,12}$/), fc.constantFrom(...DANGEROUS))

test('local JSON values file: any object of names → JSON values loads exactly; nothing reaches a prototype', async (t) => {
  const dir = tempDir(t)
  const before = snapshotPrototypes()
  let n = 0
  await fc.assert(fc.asyncProperty(fc.dictionary(nameArb, fc.oneof(fc.string({ unit: 'grapheme' }), fc.jsonValue({ maxDepth: 2 })), { maxKeys: 6 }), async (values) => {
    const file = join(dir, `values-${n++}.json`)
    // own "__proto__" keys as in a file written by hand
    const text = `{${Object.entries(values).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`
    writeFileSync(file, text)
    const parsed = JSON.parse(text) as Record<string, unknown>
    const secrets: Record<string, string> = {}
    Object.keys(parsed).forEach((name, i) => { secrets[`s${i}`] = `local://${name}` })
    const { app, error } = await start({ provider: 'local', secrets, local: { file } })
    const present = Object.keys(parsed).every((name) => parsed[name] !== null)
    if (!present) {
      assert.ok(error instanceof CloudSecretsError || error === undefined)
    } else {
      assert.equal(error, undefined, String((error as Error)?.message))
    }
    if (error === undefined) {
      Object.keys(parsed).forEach((name, i) => {
        const v = parsed[name]
        assert.equal(app.secrets[`s${i}`], typeof v === 'string' ? v : JSON.stringify(v))
      })
      await app.close()
    }
    assertPrototypesIntact(before)
  }), { numRuns: 30 })
  t.pass()
})

test('local .env values file: any text loads what node:util parseEnv reads, or fails coded', async (t) => {
  const dir = tempDir(t)
  const before = snapshotPrototypes()
  let n = 0
  const lineArb = fc.oneof(
    fc.tuple(nameArb, fc.constantFrom('=', ' = ', '='), fc.oneof(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.constantFrom('"quoted value"', "'single'", '`back`', '"multi\nline"', 'a # comment', ''))).map(([k, eq, v]) => `${k}${eq}${v}`),
    fc.constantFrom('# comment', 'export A=1', '', '   ', '=novalue', '__proto__=polluted', 'constructor=x'),
    fc.string({ unit: 'binary', maxLength: 30 })
  )
  await fc.assert(fc.asyncProperty(fc.array(lineArb, { maxLength: 8 }), fc.constantFrom('\n', '\r\n'), async (lines, eol) => {
    const file = join(dir, `values-${n++}.env`)
    const text = lines.join(eol)
    writeFileSync(file, text)
    const expected = parseEnv(text) as Record<string, string>
    const names = Object.keys(expected).filter((k) => k.length > 0 && k.length <= 512 && !/[\s\u0000-\u001f\u007f#?]/.test(k) && !/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(k) && !k.startsWith('arn:') && !k.startsWith('projects/')) // eslint-disable-line no-control-regex
    const secrets: Record<string, string> = {}
    names.forEach((name, i) => { secrets[`s${i}`] = `local://${name}` })
    const { app, error } = await start({ provider: 'local', secrets, local: { file } })
    if (error !== undefined) {
      assert.ok(error instanceof CloudSecretsError, String(error))
    } else {
      names.forEach((name, i) => { assert.equal(app.secrets[`s${i}`], expected[name]) })
      await app.close()
    }
    assertPrototypesIntact(before)
  }), { numRuns: 30 })
  t.pass()
})

test('local values file edge cases: BOM, not a regular file, too big, huge and unicode values', async (t) => {
  const dir = tempDir(t)
  const big = 'é😀'.repeat(200_000) // ~1.4 MB of multi-byte text
  const bom = join(dir, 'bom.json')
  writeFileSync(bom, `\ufeff${JSON.stringify({ a: 'x', big, 日本: '値' })}`)
  const ok = await start({ provider: 'local', secrets: { a: 'local://a', big: 'local://big', jp: 'local://日本' }, local: { file: bom } })
  t.equal(ok.error, undefined, 'a UTF-8 BOM (Windows editors) is accepted')
  t.equal(ok.app.secrets.big, big, 'a 1.4 MB unicode value arrives intact')
  t.equal(ok.app.secrets.jp, '値')
  await ok.app.close()

  const notFile = await start({ provider: 'local', secrets: { a: 'local://a' }, local: { file: '/dev/zero' } })
  t.match(assertConfigRejection(notFile.error)[0].message, /not a regular file/, '/dev/zero is refused instead of read forever')

  const dirAsFile = await start({ provider: 'local', secrets: { a: 'local://a' }, local: { file: dir } })
  t.match(assertConfigRejection(dirAsFile.error)[0].message, /not a regular file/)

  const huge = join(dir, 'huge.env')
  writeFileSync(huge, `A=${'x'.repeat(5 * 1024 * 1024)}`)
  const tooBig = await start({ provider: 'local', secrets: { a: 'local://A' }, local: { file: huge } })
  t.match(assertConfigRejection(tooBig.error)[0].message, /larger than/)

  const missing = await start({ provider: 'local', secrets: { a: 'local://a' }, local: { file: join(dir, 'nope.json') } })
  t.match(assertConfigRejection(missing.error)[0].message, /cannot read .*ENOENT/)

  const depth = 20_000
  const deep = join(dir, 'deep.json')
  writeFileSync(deep, `{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`)
  const tooDeep = await start({ provider: 'local', secrets: { a: 'local://a' }, local: { file: deep } })
  t.match(assertConfigRejection(tooDeep.error)[0].message, /nested too deeply/, 'regression: no RangeError escapes')
})

test('an invalid JSON values file or JSON secret body never puts its content in an error or log', async (t) => {
  const dir = tempDir(t)
  const value = randomSecret()
  const file = join(dir, 'broken.json')
  writeFileSync(file, `{"db": "${value}", oops}`)
  const broken = await start({ provider: 'local', secrets: { db: 'local://db' }, local: { file } })
  assertConfigRejection(broken.error)
  assertNoLeak(t, errorText(broken.error) + broken.logs.text(), [value, value.slice(3, 15)], 'the invalid-JSON file error')

  // V8 quotes the input in SyntaxError messages ("Unexpected token … in JSON at …")
  const body = `${value} is not JSON`
  let v8Message = ''
  try { JSON.parse(body) } catch (err) { v8Message = (err as Error).message }
  t.ok(v8Message.includes(value.slice(0, 10)), 'V8 does quote the input (what the core must not pass on)')
  const notJson = await start({ provider: 'local', secrets: { db: 'local://db#password' }, local: { values: { db: body } } })
  t.equal((notJson.error as CloudSecretsError).errors?.[0].code, 'FST_CLOUD_SECRETS_NOT_FOUND')
  assertNoLeak(t, errorText(notJson.error) + notJson.logs.text(), [value, value.slice(3, 15)], 'the not-JSON secret body error')
})
