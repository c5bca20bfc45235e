import { createHash, createHmac } from 'node:crypto'
import type { AwsCredentialsProvider } from './clients.js'
import { serviceEndpoint, signingRegion, type EndpointSettings } from './endpoints.js'
import type { HttpHandlerLike, SigningSdk } from './sdk.js'

/**
 * STS GetCallerIdentity (no permission needed) for the principal in the identity report. No
 * package in `@aws-sdk/client-secrets-manager`'s tree has this call, so it is one Query POST,
 * signed with the SDK's own SigV4 signer and sent with its own Node HTTP handler, to the endpoint
 * the SDK's STS client would use. Errors come back in the SDK's service-exception shape
 * (`name` = the STS error Code, `$metadata`, `$fault`), so one classifier handles both services.
 */

/** The hash the signer takes (`Checksum` shape), on node:crypto as the SDK's own hash-node is. */
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

export interface CallerIdentity {
  Arn?: string
  Account?: string
  UserId?: string
}

/** What the SDK treats as a clock-skew answer (it then corrects its clock offset). */
const CLOCK_SKEW_NAMES = new Set(['AuthFailure', 'InvalidSignatureException', 'RequestExpired', 'RequestInTheFuture', 'RequestTimeTooSkewed', 'SignatureDoesNotMatch'])
const SKEW_LIMIT_MS = 5 * 60_000

const BODY = 'Action=GetCallerIdentity&Version=2011-06-15'

function tag (xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)
  return m === null ? undefined : unescapeXml(m[1])
}

function unescapeXml (text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, '\'').replace(/&amp;/g, '&')
}

/** The SDK's service-exception shape, built from an STS answer. */
export class StsServiceError extends Error {
  readonly $fault: 'client' | 'server'
  readonly $metadata: { httpStatusCode: number, requestId?: string, clockSkewCorrected?: boolean }
  constructor (name: string, message: string, status: number, requestId: string | undefined, fault: 'client' | 'server') {
    super(message)
    this.name = name
    this.$fault = fault
    this.$metadata = { httpStatusCode: status, requestId }
  }
}

export interface StsCallerOptions {
  sdk: SigningSdk
  credentials: AwsCredentialsProvider
  region: string
  endpoint: EndpointSettings
  connectionTimeout: number
  requestTimeout: number
  /** keep-alive agent for the STS connection (the provider warms it while credentials resolve) */
  httpsAgent?: unknown
}

/** One STS caller for the app: its own handler (keep-alive), its own clock offset. */
export class StsCaller {
  private readonly handler: HttpHandlerLike
  private clockOffsetMs = 0
  readonly host: string
  readonly url: URL

  constructor (private readonly options: StsCallerOptions) {
    const endpoint = serviceEndpoint('sts', options.region, options.endpoint)
    this.host = endpoint.host
    this.url = new URL(endpoint.url)
    this.handler = new options.sdk.NodeHttpHandler({ connectionTimeout: options.connectionTimeout, requestTimeout: options.requestTimeout, throwOnRequestTimeout: true, httpsAgent: options.httpsAgent })
  }

  async getCallerIdentity (signal: AbortSignal): Promise<CallerIdentity> {
    const { sdk, credentials, region } = this.options
    const url = this.url
    const path = url.pathname === '' ? '/' : url.pathname
    const request = {
      method: 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port === '' ? undefined : Number(url.port),
      path,
      query: {},
      headers: { 'content-type': 'application/x-www-form-urlencoded', host: url.host, 'content-length': String(Buffer.byteLength(BODY)) },
      body: BODY
    }
    const signer = new sdk.SignatureV4({ credentials, region: signingRegion('sts', region), service: 'sts', sha256: Sha256, applyChecksum: false })
    const signed = await signer.sign(request, { signingDate: new Date(Date.now() + this.clockOffsetMs) })
    const { response } = await this.handler.handle(signed, { abortSignal: signal })
    const text = Buffer.from(await sdk.streamCollector(response.body)).toString('utf8')
    const status = response.statusCode
    const requestId = response.headers['x-amzn-requestid'] ?? tag(text, 'RequestId')
    if (status >= 200 && status < 300) {
      const arn = tag(text, 'Arn')
      if (arn === undefined) throw new StsServiceError('SerializationError', `STS answered HTTP ${status} without a GetCallerIdentityResult`, status, requestId, 'client')
      return { Arn: arn, Account: tag(text, 'Account'), UserId: tag(text, 'UserId') }
    }
    const code = tag(text, 'Code')
    const name = code ?? (status >= 500 ? 'InternalFailure' : `HTTP${status}`)
    const message = tag(text, 'Message') ?? (code === undefined ? `STS answered HTTP ${status} with no STS error document` : code)
    const fault = tag(text, 'Type') === 'Receiver' || status >= 500 ? 'server' : 'client'
    const error = new StsServiceError(name, message, status, requestId, fault)
    this.correctClock(error, response.headers.date)
    throw error
  }

  /** As the SDK does: a clock-skew answer whose Date is > 5 min from ours sets the offset for the next try. */
  private correctClock (error: StsServiceError, date: string | undefined): void {
    if (!CLOCK_SKEW_NAMES.has(error.name) || date === undefined) return
    const server = Date.parse(date)
    if (Number.isNaN(server)) return
    const offset = server - Date.now()
    if (Math.abs(offset - this.clockOffsetMs) < SKEW_LIMIT_MS) return
    this.clockOffsetMs = offset
    error.$metadata.clockSkewCorrected = true
  }

  close (): void {
    this.handler.destroy()
  }
}
