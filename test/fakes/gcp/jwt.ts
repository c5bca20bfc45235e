import { createSign, createVerify, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'

/** An RSA key pair like the ones in a service-account key file. */
export function rsaKeyPair (): { privateKeyPem: string, publicKey: KeyObject } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return { privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), publicKey }
}

function b64url (data: Buffer | string): string {
  return Buffer.from(data).toString('base64url')
}

/** Signs an RS256 JWT (for subject tokens written to files). */
export function signJwt (payload: Record<string, unknown>, privateKeyPem: string, kid = 'test'): string {
  const head = b64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid }))
  const body = b64url(JSON.stringify(payload))
  const signature = createSign('RSA-SHA256').update(`${head}.${body}`).sign(privateKeyPem)
  return `${head}.${body}.${b64url(signature)}`
}

export interface DecodedJwt { header: Record<string, unknown>, payload: Record<string, unknown>, signedPart: string, signature: Buffer }

export function decodeJwt (token: string): DecodedJwt | undefined {
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  try {
    return {
      header: JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as Record<string, unknown>,
      payload: JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as Record<string, unknown>,
      signedPart: `${parts[0]}.${parts[1]}`,
      signature: Buffer.from(parts[2], 'base64url')
    }
  } catch {
    return undefined
  }
}

/** Verifies an RS256 signature and the time claims; returns the payload or why it failed. */
export function verifyJwt (token: string, keyFor: (kid: string | undefined, payload: Record<string, unknown>) => KeyObject | undefined): { ok: true, payload: Record<string, unknown> } | { ok: false, reason: string } {
  const jwt = decodeJwt(token)
  if (jwt === undefined) return { ok: false, reason: 'not a JWT' }
  if (jwt.header.alg !== 'RS256') return { ok: false, reason: `alg ${String(jwt.header.alg)} is not RS256` }
  const key = keyFor(typeof jwt.header.kid === 'string' ? jwt.header.kid : undefined, jwt.payload)
  if (key === undefined) return { ok: false, reason: 'unknown signing key' }
  if (!createVerify('RSA-SHA256').update(jwt.signedPart).verify(key, jwt.signature)) return { ok: false, reason: 'bad signature' }
  const now = Math.floor(Date.now() / 1000)
  if (typeof jwt.payload.exp !== 'number' || jwt.payload.exp < now) return { ok: false, reason: 'expired' }
  if (typeof jwt.payload.iat === 'number' && jwt.payload.iat > now + 300) return { ok: false, reason: 'issued in the future' }
  return { ok: true, payload: jwt.payload }
}

/** An opaque random access token, different on every run. */
export function randomToken (prefix = 'ya29.fake'): string {
  return `${prefix}-${randomBytes(24).toString('base64url')}`
}

/**
 * CRC32C (Castagnoli), bit by bit: deliberately not the table form the provider uses, so the
 * two implementations check each other.
 */
export function crc32cBitwise (data: Buffer): number {
  let crc = 0xffffffff
  for (const byte of data) {
    crc ^= byte
    for (let k = 0; k < 8; k++) crc = (crc & 1) !== 0 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1
  }
  return (crc ^ 0xffffffff) >>> 0
}
