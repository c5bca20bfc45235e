import assert from 'node:assert/strict'
import diagnostics from 'node:diagnostics_channel'
import { CloudSecretsError, type ConfigProblem } from '../../src/errors.js'

/** The built-ins whose prototypes a polluting parser would reach. */
const PROTOTYPES: ReadonlyArray<[string, object]> = [
  ['Object', Object.prototype], ['Array', Array.prototype], ['Function', Function.prototype],
  ['String', String.prototype], ['Number', Number.prototype], ['Boolean', Boolean.prototype],
  ['Map', Map.prototype], ['Set', Set.prototype], ['Promise', Promise.prototype],
  ['Error', Error.prototype], ['RegExp', RegExp.prototype], ['Symbol', Symbol.prototype]
]

type Snapshot = Map<string, Map<PropertyKey, PropertyDescriptor>>

export function snapshotPrototypes (): Snapshot {
  const snap: Snapshot = new Map()
  for (const [name, proto] of PROTOTYPES) {
    const props = new Map<PropertyKey, PropertyDescriptor>()
    for (const key of Reflect.ownKeys(proto)) props.set(key, Object.getOwnPropertyDescriptor(proto, key) as PropertyDescriptor)
    snap.set(name, props)
    snap.set(`${name}.[[Prototype]]`, new Map([['proto', { value: Object.getPrototypeOf(proto) }]]))
  }
  return snap
}

/** Throws (so fast-check shrinks) when any built-in prototype gained, lost or changed a property. */
export function assertPrototypesIntact (before: Snapshot): void {
  const after = snapshotPrototypes()
  for (const [name, props] of before) {
    const now = after.get(name) as Map<PropertyKey, PropertyDescriptor>
    assert.equal(now.size, props.size, `${name}.prototype gained or lost properties`)
    for (const [key, desc] of props) {
      const d = now.get(key)
      assert.ok(d !== undefined, `${name}.prototype lost ${String(key)}`)
      assert.ok(d.value === desc.value && d.get === desc.get && d.set === desc.set && d.writable === desc.writable, `${name}.prototype.${String(key)} changed`)
    }
  }
  const probe: Record<string, unknown> = {}
  for (const key of ['polluted', 'isAdmin', 'x', 'a', 'value']) assert.equal(probe[key], undefined, `({}).${key} is defined: prototype pollution`)
}

const SEPARATORS = new Set([',', '\n', '\r'])

/** The CLOUD_SECRETS entry (between separators) that contains 0-based index `i`. */
export function entryAt (input: string, i: number): string {
  let start = i
  while (start > 0 && !SEPARATORS.has(input[start - 1])) start--
  let end = i
  while (end < input.length && !SEPARATORS.has(input[end])) end++
  return input.slice(start, end)
}

/**
 * The contract of every rejection: a CloudSecretsError with code FST_CLOUD_SECRETS_CONFIG, at
 * least one problem, each naming a source; problems in `cloudSecrets` (the CLOUD_SECRETS text)
 * carry a 1-based position that points at a character of that text, inside the entry that the
 * problem's alias starts.
 */
export function assertConfigRejection (err: unknown, cloudSecrets?: string): ConfigProblem[] {
  assert.ok(err instanceof CloudSecretsError, `expected a CloudSecretsError, got ${String((err as Error)?.name)}: ${String((err as Error)?.message).slice(0, 200)}`)
  assert.equal(err.code, 'FST_CLOUD_SECRETS_CONFIG')
  assert.equal(err.kind, 'CONFIG')
  const problems = err.problems ?? []
  assert.ok(problems.length > 0, 'a config error lists its problems')
  for (const p of problems) {
    assert.equal(typeof p.source, 'string')
    assert.ok(p.source.length > 0 && p.source.length < 200, 'each problem names a (short) source')
    assert.equal(typeof p.message, 'string')
    if (p.source !== 'CLOUD_SECRETS' || cloudSecrets === undefined) continue
    if (p.position === undefined) {
      assert.match(p.message, /at most \d+ secrets/, 'only the count problem of CLOUD_SECRETS has no position')
      continue
    }
    assert.ok(Number.isInteger(p.position) && p.position >= 1 && p.position <= cloudSecrets.length, `position ${p.position} is inside the ${cloudSecrets.length} characters written`)
    const i = p.position - 1
    assert.ok(!SEPARATORS.has(cloudSecrets[i]), `position ${p.position} points at an entry, not at a separator`)
    const entry = entryAt(cloudSecrets, i).trimStart()
    if (p.alias !== undefined) {
      const alias = p.alias.endsWith('…') ? p.alias.slice(0, -1) : p.alias
      assert.ok(entry.startsWith(alias), `problem of alias "${alias.slice(0, 40)}" points into its own entry ("${entry.slice(0, 40)}")`)
    } else {
      assert.ok(!entry.includes('='), 'a problem without alias is an entry that is not alias=reference')
    }
  }
  if (problems.length <= 100) {
    for (const p of problems) assert.ok(err.message.includes(p.source.slice(0, 40)), 'the message lists every problem')
  }
  return problems
}

/**
 * Counts every client socket the process opens (net, tls, http, undici all create one), to prove
 * that a rejected config made no connection at all.
 */
export function countConnections (): { readonly count: number, readonly destinations: string[], stop: () => void } {
  const destinations: string[] = []
  const onSocket = (message: unknown): void => {
    const socket = (message as { socket?: { remoteAddress?: string } }).socket
    destinations.push(String(socket?.remoteAddress ?? 'pending'))
  }
  diagnostics.subscribe('net.client.socket', onSocket)
  return {
    get count () { return destinations.length },
    destinations,
    stop: () => { diagnostics.unsubscribe('net.client.socket', onSocket) }
  }
}
