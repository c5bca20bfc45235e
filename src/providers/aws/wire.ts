import type https from 'node:https'
import type { IncomingHttpHeaders } from 'node:http'
import { headerOf, httpsRequest, type HttpsAnswer } from '../../shared/https-request.js'
import type { RequestLifetime } from '../../shared/request-lifetime.js'
import type { AwsCredentialsProvider } from './clients.js'
import { signV4 } from './sigv4.js'

/**
 * The plugin's own AWS calls on the wire the SDK uses: SigV4-signed HTTPS over the provider's
 * warm pool, the SDK's clock-skew correction, and errors in the SDK's service-exception shape
 * (`name` = the error code, `message`, `$fault`, `$metadata`, `$response.headers`), so one
 * classifier (errors.ts) handles them as it handles the SDK's. Loading the Secrets Manager client
 * and its signer is ~50 ms of a cold start, running it a few ms of CPU per call: a boot whose
 * credentials the plugin gets itself (environment, container) loads no SDK package.
 */

/** The SDK's service-exception shape, built from an answer. */
export class AwsServiceError extends Error {
  readonly $fault: 'client' | 'server'
  readonly $metadata: { httpStatusCode: number, requestId?: string, clockSkewCorrected?: boolean }
  readonly $response: { statusCode: number, headers: Record<string, string | undefined> }
  constructor (name: string, message: string, answer: { status: number, headers: IncomingHttpHeaders }, requestId: string | undefined, fault: 'client' | 'server') {
    super(message)
    this.name = name
    this.$fault = fault
    this.$metadata = { httpStatusCode: answer.status, requestId }
    const headers: Record<string, string | undefined> = {}
    for (const key of Object.keys(answer.headers)) headers[key] = headerOf(answer.headers, key)
    this.$response = { statusCode: answer.status, headers }
  }
}

/** What the SDK treats as a clock-skew answer (it then corrects its clock offset). */
const CLOCK_SKEW_NAMES = new Set(['AuthFailure', 'InvalidSignatureException', 'RequestExpired', 'RequestInTheFuture', 'RequestTimeTooSkewed', 'SignatureDoesNotMatch'])
const SKEW_LIMIT_MS = 5 * 60_000

/** The SDK's systemClockOffset: a clock-skew answer whose Date is > 5 min from ours sets it for the next try. */
export class ClockOffset {
  ms = 0

  now (): Date {
    return new Date(Date.now() + this.ms)
  }

  correct (error: AwsServiceError, date: string | undefined): void {
    if (!CLOCK_SKEW_NAMES.has(error.name) || date === undefined) return
    const server = Date.parse(date)
    if (Number.isNaN(server)) return
    const offset = server - Date.now()
    if (Math.abs(offset - this.ms) < SKEW_LIMIT_MS) return
    this.ms = offset
    error.$metadata.clockSkewCorrected = true
  }
}

export interface SignedCallInit {
  credentials: AwsCredentialsProvider
  agent: https.Agent
  lifetime: RequestLifetime
  clock: ClockOffset
}

/** Signs and sends one request; returns the answer (any status). */
export async function signedCall (init: SignedCallInit, url: URL, region: string, service: string, headers: Record<string, string>, body: string, signal: AbortSignal, contentSha256: boolean): Promise<HttpsAnswer> {
  const credentials = await init.credentials()
  const signed = signV4({ method: 'POST', url, headers, body, region, service, credentials, date: init.clock.now(), contentSha256 })
  return await httpsRequest(url, { method: 'POST', headers: signed, body, agent: init.agent, signal, lifetime: init.lifetime, maxBody: MAX_BODY })
}

/** a Secrets Manager batch of 20 secrets of 64 KB each is under 2 MB as JSON */
const MAX_BODY = 16 * 1024 * 1024

/** the SDK's sanitizeErrorCode: `prefix#Name:suffix` → `Name` */
function sanitizeErrorCode (raw: string): string {
  let code = raw
  if (code.includes(':')) code = code.split(':')[0]
  if (code.includes('#')) code = code.split('#')[1]
  return code
}

/** Secrets Manager's modeled exceptions that are the service's fault (the rest are the caller's) */
const SERVER_EXCEPTIONS = new Set(['InternalServiceError'])

export type SecretsManagerOperation = 'GetSecretValue' | 'BatchGetSecretValue'

/** an output as the SDK returns it: dates as Date, binaries as bytes, `$metadata` */
export type WireOutput = Record<string, unknown> & { $metadata: { httpStatusCode: number, requestId?: string } }

function reviveSecretValue (v: Record<string, unknown>): Record<string, unknown> {
  const out = { ...v }
  if (typeof out.CreatedDate === 'number') out.CreatedDate = new Date(Math.round(out.CreatedDate * 1000))
  if (typeof out.SecretBinary === 'string') out.SecretBinary = new Uint8Array(Buffer.from(out.SecretBinary, 'base64'))
  return out
}

/** Secrets Manager's awsJson1_1 protocol: POST /, X-Amz-Target secretsmanager.<Operation>. */
export class SecretsManagerWire {
  constructor (private readonly init: SignedCallInit, readonly endpoint: string, readonly region: string) {}

  async call (operation: SecretsManagerOperation, input: Record<string, unknown>, signal: AbortSignal): Promise<WireOutput> {
    const url = new URL(this.endpoint)
    if (url.pathname === '') url.pathname = '/'
    // undefined members are left out, as the SDK's serializer does
    const body = JSON.stringify(input)
    const answer = await signedCall(this.init, url, this.region, 'secretsmanager', {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `secretsmanager.${operation}`
    }, body, signal, true)
    const requestId = headerOf(answer.headers, 'x-amzn-requestid') ?? headerOf(answer.headers, 'x-amz-request-id')
    const text = answer.body.toString('utf8')
    let parsed: Record<string, unknown> | undefined
    try {
      parsed = text.trim() === '' ? {} : JSON.parse(text)
    } catch {
      parsed = undefined
    }
    if (answer.status >= 200 && answer.status < 300) {
      // never quote the body: it holds secret values
      if (parsed === undefined || typeof parsed !== 'object' || parsed === null) throw new AwsServiceError('SerializationError', `Secrets Manager answered HTTP ${answer.status} with a body that is not JSON`, answer, requestId, 'client')
      const out: Record<string, unknown> = operation === 'GetSecretValue'
        ? reviveSecretValue(parsed)
        : { ...parsed, ...(Array.isArray(parsed.SecretValues) ? { SecretValues: (parsed.SecretValues as Array<Record<string, unknown>>).map(reviveSecretValue) } : {}) }
      return { ...out, $metadata: { httpStatusCode: answer.status, requestId } }
    }
    // the SDK's loadRestJsonErrorCode, then its modeled exception or throwDefaultError (named by the status)
    const header = headerOf(answer.headers, 'x-amzn-errortype')
    const raw = header ?? (typeof parsed?.code === 'string' ? parsed.code : undefined) ?? (typeof parsed?.__type === 'string' ? parsed.__type : undefined)
    const name = raw !== undefined && raw !== '' ? sanitizeErrorCode(raw) : String(answer.status)
    const message = typeof parsed?.message === 'string' && parsed.message !== '' ? parsed.message : typeof parsed?.Message === 'string' && parsed.Message !== '' ? parsed.Message : 'UnknownError'
    const fault = SERVER_EXCEPTIONS.has(name) ? 'server' : 'client'
    const error = new AwsServiceError(name, message, answer, requestId, fault)
    this.init.clock.correct(error, headerOf(answer.headers, 'date'))
    throw error
  }
}
