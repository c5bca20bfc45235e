import { SignatureV4 } from '@smithy/signature-v4'
import { createHash, createHmac } from 'node:crypto'
import type { FakeRequest } from './server.js'
import type { SigV4 } from './world.js'

// Verifies a request's SigV4 signature by signing the same canonical request again with the
// SDK's own signer (@smithy/signature-v4) and the secret key the fake issued: a request signed
// for the wrong region, service, body, time or key is refused as AWS refuses it.

/** The hash the SDK's signer takes (`Checksum` shape), on node:crypto as the SDK's own hash-node is. */
export class Sha256 {
  private readonly hash: { update: (data: string | Uint8Array) => unknown, digest: () => Buffer }
  constructor (secret?: string | Uint8Array) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', secret)
  }

  update (data: string | Uint8Array): void {
    this.hash.update(data)
  }

  async digest (): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest())
  }
}

function amzDate (value: string | undefined): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value ?? '')
  return m === null ? undefined : new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]))
}

export async function signatureMatches (req: FakeRequest, sig: SigV4, credentials: { accessKeyId: string, secretAccessKey: string, sessionToken?: string }): Promise<boolean> {
  const given = /Signature=([0-9a-f]+)/.exec(String(req.headers.authorization))?.[1]
  const signingDate = amzDate(req.headers['x-amz-date'] as string | undefined)
  if (given === undefined || signingDate === undefined) return false
  const headers: Record<string, string> = {}
  for (const name of sig.signedHeaders) {
    const value = req.headers[name]
    if (value === undefined) return false
    headers[name] = Array.isArray(value) ? value.join(',') : value
  }
  // the signer adds these itself from the signing date and the credentials
  delete headers['x-amz-date']
  delete headers['x-amz-security-token']
  const host = headers.host ?? '127.0.0.1'
  const query: Record<string, string> = {}
  for (const [k, v] of req.url.searchParams) query[k] = v
  const signer = new SignatureV4({ credentials: { ...credentials }, region: sig.region, service: sig.service, sha256: Sha256 as never, applyChecksum: false })
  const signed = await signer.sign({ method: req.method, protocol: 'http:', hostname: host.replace(/:\d+$/, ''), path: req.path, query, headers, body: req.body } as never, { signingDate, signableHeaders: new Set(sig.signedHeaders) })
  const again = /Signature=([0-9a-f]+)/.exec(String((signed as { headers: Record<string, string> }).headers.authorization))?.[1]
  return again === given
}
