export type KeyResult = { ok: true, value: string | undefined } | { ok: false, reason: 'not-json' | 'missing' }

/**
 * Reads a dot path out of a JSON-valued secret. Only own properties are followed, so
 * `__proto__` or `constructor` in a path or a payload never reach a prototype.
 * Parse errors are reduced to a reason: V8's messages quote the input, i.e. the secret.
 */
export function extractKey (text: string, path: readonly string[]): KeyResult {
  let node: unknown
  try {
    node = JSON.parse(text)
  } catch {
    return { ok: false, reason: 'not-json' }
  }
  if (typeof node !== 'object' || node === null) return { ok: false, reason: 'not-json' }
  for (const segment of path) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, segment)) return { ok: false, reason: 'missing' }
    node = (node as Record<string, unknown>)[segment]
  }
  if (node === null || node === undefined) return { ok: false, reason: 'missing' }
  if (typeof node === 'string') return { ok: true, value: node }
  if (typeof node === 'object') {
    // V8 parses deeper nesting than it can stringify back (RangeError): report, never throw
    try { return { ok: true, value: JSON.stringify(node) } } catch { return { ok: false, reason: 'not-json' } }
  }
  return { ok: true, value: String(node) }
}
