/**
 * Checking what plain JavaScript callers pass as options: anything can arrive, so a wrong type is
 * a listed problem (never a TypeError), and what a problem echoes back stays short.
 */

export function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** an object literal (or JSON.parse result): a Map or class instance would silently yield no keys */
export function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (!isRecord(value)) return false
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === null || proto === Object.prototype
}

/** a wrong value echoed in a problem: short, and never String() of an object (null-prototype objects throw) */
export function shown (value: unknown): string {
  return typeof value === 'string' ? `"${value.slice(0, 60)}"` : `a value of type ${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value}`
}

/** an option key or alias echoed in a problem's source, kept short */
export function clip (name: string): string {
  return name.length > 64 ? `${name.slice(0, 64)}…` : name
}
