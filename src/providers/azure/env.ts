/** An env var that is set to something other than blanks (Azure's platforms leave some empty). */
export function isSet (value: string | undefined): value is string {
  return value !== undefined && value.trim().length > 0
}
