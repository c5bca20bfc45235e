/** Reading env vars, the same way everywhere: the core and each provider. */

export type Env = Readonly<Record<string, string | undefined>>

/** A string with something besides white space in it (an env var set to '' or '  ' is unset). */
export function nonEmpty (value: unknown): value is string {
  return typeof value === 'string' && value.trim().length > 0
}

/** The first of `names` that is set (non-empty), with its trimmed value; undefined when none is. */
export function firstSet (env: Env, ...names: readonly string[]): { name: string, value: string } | undefined {
  for (const name of names) {
    const value = env[name]
    if (nonEmpty(value)) return { name, value: value.trim() }
  }
  return undefined
}

/**
 * Set to anything but '' or 'false' (any case), as the AWS SDK reads its env vars: a switch such
 * as AWS_EC2_METADATA_DISABLED=false is off, and so is a credential variable set to "false".
 */
export function setAndNotFalse (value: string | undefined): boolean {
  return value !== undefined && value !== '' && value.toLowerCase() !== 'false'
}
