/**
 * The claims of a JWT (an access token, an OIDC subject token), decoded and NOT verified: for
 * the identity report only. Only string and number claims come back, so nothing the caller did
 * not ask for (and no part of the token's signature) is kept.
 */
export function jwtClaims<K extends string> (token: string | undefined, keys: readonly K[]): Partial<Record<K, string | number>> {
  const part = token?.split('.')[1]
  if (part === undefined || part.length === 0) return {}
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
  } catch {
    return {}
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {}
  const claims: Partial<Record<K, string | number>> = {}
  for (const key of keys) {
    const value = (parsed as Record<string, unknown>)[key]
    if (typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value))) claims[key] = value
  }
  return claims
}

/** one string claim, or undefined */
export function stringClaim (token: string | undefined, key: string): string | undefined {
  const value = jwtClaims(token, [key])[key]
  return typeof value === 'string' ? value : undefined
}

/** the `exp` claim in ms since the epoch, or undefined */
export function jwtExpiryMs (token: string | undefined): number | undefined {
  const exp = jwtClaims(token, ['exp']).exp
  return typeof exp === 'number' ? exp * 1000 : undefined
}
