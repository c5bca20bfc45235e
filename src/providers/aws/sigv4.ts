import { createHash, createHmac } from 'node:crypto'
import type { AwsCredentials } from './clients.js'

/**
 * AWS Signature Version 4 for the plugin's own calls (Secrets Manager, STS), as the SDK's
 * `@smithy/signature-v4` signs them: every header but the unsignable ones, names lower-cased and
 * sorted, values trimmed with inner whitespace collapsed, the payload's SHA-256, the
 * `x-amz-security-token` of session credentials signed too. `test/aws/sigv4.test.ts` checks the
 * output against the SDK's signer, header for header.
 */

/** headers the SDK never signs (proxies and the HTTP stack may change them) */
const UNSIGNABLE = new Set(['authorization', 'cache-control', 'connection', 'expect', 'from', 'keep-alive', 'max-forwards', 'pragma', 'referer', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'x-amzn-trace-id'])

export interface SignInput {
  method: string
  url: URL
  /** header names in any case; `host` is added from the URL when absent */
  headers: Record<string, string>
  body: string
  region: string
  service: string
  credentials: Pick<AwsCredentials, 'accessKeyId' | 'secretAccessKey' | 'sessionToken'>
  date: Date
  /** add x-amz-content-sha256 (the SDK's default for its service clients) */
  contentSha256?: boolean
}

const sha256Hex = (data: string): string => createHash('sha256').update(data, 'utf8').digest('hex')
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest()

/** RFC 3986 encoding, as the SDK's escapeUri */
function escapeUri (text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

function canonicalQuery (url: URL): string {
  const pairs: Array<[string, string]> = []
  for (const [k, v] of url.searchParams) pairs.push([escapeUri(k), escapeUri(v)])
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
  return pairs.map(([k, v]) => `${k}=${v}`).join('&')
}

/** Returns the request's headers with `host`, `x-amz-date`, the token, the payload hash (optional) and `authorization`. */
export function signV4 (input: SignInput): Record<string, string> {
  const amzDate = input.date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '')
  const day = amzDate.slice(0, 8)
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(input.headers)) headers[k.toLowerCase()] = v
  headers.host ??= input.url.host
  headers['x-amz-date'] = amzDate
  if (input.credentials.sessionToken !== undefined && input.credentials.sessionToken !== '') headers['x-amz-security-token'] = input.credentials.sessionToken
  const payloadHash = sha256Hex(input.body)
  if (input.contentSha256 === true) headers['x-amz-content-sha256'] = payloadHash
  const names = Object.keys(headers).filter((n) => !UNSIGNABLE.has(n)).sort()
  const canonicalHeaders = names.map((n) => `${n}:${headers[n].trim().replace(/\s+/g, ' ')}\n`).join('')
  const signedHeaders = names.join(';')
  const path = input.url.pathname === '' ? '/' : input.url.pathname.split('/').map((segment) => escapeUri(decodeURIComponent(segment))).join('/')
  const canonical = [input.method.toUpperCase(), path, canonicalQuery(input.url), canonicalHeaders, signedHeaders, payloadHash].join('\n')
  const scope = `${day}/${input.region}/${input.service}/aws4_request`
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonical)].join('\n')
  const key = hmac(hmac(hmac(hmac(`AWS4${input.credentials.secretAccessKey}`, day), input.region), input.service), 'aws4_request')
  const signature = createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex')
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`
  return headers
}
