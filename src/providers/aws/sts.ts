import type https from 'node:https'
import { headerOf } from '../../shared/https-request.js'
import type { RequestLifetime } from '../../shared/request-lifetime.js'
import type { AwsCredentialsProvider } from './clients.js'
import { serviceEndpoint, signingRegion, type EndpointSettings } from './endpoints.js'
import { AwsServiceError, ClockOffset, signedCall } from './wire.js'

/**
 * STS GetCallerIdentity (no permission needed) for the principal in the identity report. No
 * package in `@aws-sdk/client-secrets-manager`'s tree has this call, so it is one Query POST,
 * SigV4-signed by the plugin (sigv4.ts, checked against the SDK's signer) and sent over the warm
 * STS connection, to the endpoint the SDK's STS client would use. Errors come back in the SDK's
 * service-exception shape (`name` = the STS error Code, `$metadata`, `$fault`), so one classifier
 * handles both services.
 */

export interface CallerIdentity {
  Arn?: string
  Account?: string
  UserId?: string
}

const BODY = 'Action=GetCallerIdentity&Version=2011-06-15'

function tag (xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)
  return m === null ? undefined : unescapeXml(m[1])
}

function unescapeXml (text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, '\'').replace(/&amp;/g, '&')
}

export interface StsCallerOptions {
  credentials: AwsCredentialsProvider
  region: string
  endpoint: EndpointSettings
  /** keep-alive agent for the STS connection (the provider warms it while credentials resolve) */
  agent: https.Agent
  lifetime: RequestLifetime
}

/** One STS caller for the app: its own clock offset. */
export class StsCaller {
  private readonly clock = new ClockOffset()
  readonly host: string
  readonly url: URL

  constructor (private readonly options: StsCallerOptions) {
    const endpoint = serviceEndpoint('sts', options.region, options.endpoint)
    this.host = endpoint.host
    this.url = new URL(endpoint.url)
    if (this.url.pathname === '') this.url.pathname = '/'
  }

  async getCallerIdentity (signal: AbortSignal): Promise<CallerIdentity> {
    const { credentials, region, agent, lifetime } = this.options
    const answer = await signedCall({ credentials, agent, lifetime, clock: this.clock }, this.url, signingRegion('sts', region), 'sts', { 'content-type': 'application/x-www-form-urlencoded' }, BODY, signal, false)
    const text = answer.body.toString('utf8')
    const status = answer.status
    const requestId = headerOf(answer.headers, 'x-amzn-requestid') ?? tag(text, 'RequestId')
    if (status >= 200 && status < 300) {
      const arn = tag(text, 'Arn')
      if (arn === undefined) throw new AwsServiceError('SerializationError', `STS answered HTTP ${status} without a GetCallerIdentityResult`, answer, requestId, 'client')
      return { Arn: arn, Account: tag(text, 'Account'), UserId: tag(text, 'UserId') }
    }
    const code = tag(text, 'Code')
    const name = code ?? (status >= 500 ? 'InternalFailure' : `HTTP${status}`)
    const message = tag(text, 'Message') ?? (code === undefined ? `STS answered HTTP ${status} with no STS error document` : code)
    const fault = tag(text, 'Type') === 'Receiver' || status >= 500 ? 'server' : 'client'
    const error = new AwsServiceError(name, message, answer, requestId, fault)
    this.clock.correct(error, headerOf(answer.headers, 'date'))
    throw error
  }
}
