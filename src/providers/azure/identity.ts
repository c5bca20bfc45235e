import type { AccessToken } from '@azure/core-auth'
import type { Env } from '../../shared/env.js'
import { jwtClaims } from '../../shared/jwt.js'
import type { Identity } from '../../types.js'
import { nonEmpty } from '../../shared/env.js'
import { detectPlatform } from './platform.js'
import type { ChainLink } from './types.js'

// The identity report of the link that answered: read from the token's claims, never from the
// token itself (which is not kept).

export interface AzureTokenClaims {
  oid?: string
  tid?: string
  appid?: string
  azp?: string
  idtyp?: string
  xms_mirid?: string
  upn?: string
  unique_name?: string
  exp?: number
}

/** Reads the claims of an access token for the identity report; the token itself is never kept. */
export function decodeTokenClaims (token: string): AzureTokenClaims {
  const raw = jwtClaims(token, ['oid', 'tid', 'appid', 'azp', 'idtyp', 'xms_mirid', 'upn', 'unique_name', 'exp'])
  const claims: AzureTokenClaims = {}
  for (const key of ['oid', 'tid', 'appid', 'azp', 'idtyp', 'xms_mirid', 'upn', 'unique_name'] as const) {
    const value = raw[key]
    if (typeof value === 'string') claims[key] = value
  }
  if (typeof raw.exp === 'number') claims.exp = raw.exp
  return claims
}

/** user-assigned identities live under Microsoft.ManagedIdentity; a system-assigned one is the resource itself */
export function managedIdentityKind (mirid: string | undefined): 'user-assigned' | 'system-assigned' | undefined {
  if (mirid === undefined) return undefined
  return /\/providers\/microsoft\.managedidentity\/userassignedidentities\//i.test(mirid) ? 'user-assigned' : 'system-assigned'
}

/** Builds the identity report from the token's claims (never from the token itself). */
export function identityReport (link: ChainLink, token: AccessToken, env: Env): Identity {
  const claims = decodeTokenClaims(token.token)
  const kind = link.source === 'azure:managed-identity' ? managedIdentityKind(claims.xms_mirid) ?? (nonEmpty(env.AZURE_CLIENT_ID) ? 'user-assigned' : 'system-assigned') : undefined
  const expiresAt = Number.isFinite(token.expiresOnTimestamp) ? new Date(token.expiresOnTimestamp).toISOString() : undefined
  return {
    provider: 'azure',
    platform: detectPlatform(env, link.source === 'azure:managed-identity' && link.miKind === 'imds'),
    source: link.source,
    principal: claims.oid ?? claims.appid ?? claims.azp,
    tenant: claims.tid,
    expiresAt,
    details: {
      credential: link.credentialName,
      objectId: claims.oid,
      appId: claims.appid ?? claims.azp,
      principalType: claims.idtyp === 'user' || claims.upn !== undefined ? 'User' : 'ServicePrincipal',
      managedIdentity: kind,
      managedIdentityResourceId: claims.xms_mirid,
      managedIdentityEndpoint: link.source === 'azure:managed-identity' ? link.miKind : undefined,
      user: claims.upn ?? claims.unique_name
    }
  }
}
