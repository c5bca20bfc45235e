import { readFileSync } from 'node:fs'
import type { Env } from '../../shared/env.js'
import { earlyGet } from '../../shared/early-get.js'
import type { RequestLifetime } from '../../shared/request-lifetime.js'
import type { AwsCredentials } from './clients.js'
import { containerEndpoint } from './sources.js'

/**
 * The container-credentials request (ECS task role, EKS Pod Identity) sent by the plugin itself,
 * before the SDK is imported, so its round trip rides beside the import instead of following it.
 * The chain's container source (env-chain.ts) takes its first credentials from here when this
 * request got exactly what the SDK's `fromHttp` accepts (200, the four fields, an RFC 3339
 * expiry). Anything else — an error status, a body fromHttp would refuse, a network error, a URL
 * or token fromHttp would reject — is dropped without a word, and the SDK's source asks again and
 * reports it as it always does. So a boot still acquires its credentials once; a failing
 * endpoint is asked once more than before, by the SDK, which explains the failure.
 */
export class EarlyContainerCredentials {
  private pending: Promise<AwsCredentials | undefined> | undefined

  private constructor (pending: Promise<AwsCredentials | undefined>) {
    this.pending = pending
  }

  /** Starts the request when container credentials are what the chain will use here; else undefined. */
  static start (env: Env, lifetime: RequestLifetime): EarlyContainerCredentials | undefined {
    const endpoint = containerEndpoint(env)
    if (endpoint === undefined) return undefined
    let url: URL
    try {
      url = new URL(endpoint)
    } catch {
      return undefined
    }
    if (!acceptedUrl(url)) return undefined
    let authorization: string | undefined | null
    try {
      authorization = authorizationOf(env)
    } catch {
      return undefined // an unreadable token file: the SDK's source reports it
    }
    if (authorization === null) return undefined
    // sent now, synchronously: before the caller goes on to import the SDK
    return new EarlyContainerCredentials(fetchCredentials(url, authorization, lifetime).catch(() => undefined))
  }

  /** the early result, once: later asks (refreshes, a failure's second ask) go to the SDK */
  take (): Promise<AwsCredentials | undefined> | undefined {
    const pending = this.pending
    this.pending = undefined
    return pending
  }
}

/** the expiry format fromHttp accepts (smithy's parseRfc3339DateTime: UTC only) */
const EXPIRY = /^\d{4}-\d{2}-\d{2}[tT]\d{2}:\d{2}:\d{2}(?:\.\d+)?[zZ]$/

async function fetchCredentials (url: URL, authorization: string | undefined, lifetime: RequestLifetime): Promise<AwsCredentials | undefined> {
  const body = await earlyGet(url, authorization !== undefined ? { Authorization: authorization } : {}, lifetime, (response) => response.statusCode === 200)
  if (body === undefined) return undefined
  const parsed = JSON.parse(body) as Record<string, unknown>
  const { AccessKeyId, SecretAccessKey, Token, Expiration } = parsed
  if (typeof AccessKeyId !== 'string' || typeof SecretAccessKey !== 'string' || typeof Token !== 'string' || typeof Expiration !== 'string') return undefined
  if (!EXPIRY.test(Expiration)) return undefined
  const expiration = new Date(Expiration)
  if (Number.isNaN(expiration.getTime())) return undefined
  // what fromHttp returns, with the feature flag it sets (sources.ts tells the source by it)
  const credentials: AwsCredentials & { $source: Record<string, string> } = { accessKeyId: AccessKeyId, secretAccessKey: SecretAccessKey, sessionToken: Token, expiration, $source: { CREDENTIALS_HTTP: 'z' } }
  return credentials
}

/** fromHttp's Authorization header: the token file wins over the token; null where fromHttp would refuse it */
function authorizationOf (env: Env): string | undefined | null {
  // fromHttp tests both for truthiness (env-chain.ts passes them as given)
  const file = env.AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
  const token = truthy(file) ? readFileSync(file).toString() : (truthy(env.AWS_CONTAINER_AUTHORIZATION_TOKEN) ? env.AWS_CONTAINER_AUTHORIZATION_TOKEN : undefined)
  if (token === undefined || token === '') return undefined
  return token.includes('\r\n') ? null : token
}

function truthy (value: string | undefined): value is string {
  return value !== undefined && value !== ''
}

/** fromHttp's rule: https, or http to loopback or the ECS / EKS container hosts */
function acceptedUrl (url: URL): boolean {
  if (url.protocol === 'https:') return true
  if (url.protocol !== 'http:') return false
  const host = url.hostname
  if (host === '169.254.170.2' || host === '169.254.170.23' || host === '[fd00:ec2::23]') return true
  if (host === '[::1]' || host === 'localhost') return true
  const parts = host.split('.')
  return parts.length === 4 && parts[0] === '127' && parts.every((p) => /^\d+$/.test(p) && Number(p) <= 255)
}
