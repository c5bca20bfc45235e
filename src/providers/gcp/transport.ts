import http from 'node:http'
import https from 'node:https'
import { RequestLifetime } from '../../shared/request-lifetime.js'
import type { GaxModule, Gaxios, GaxiosOptions } from './gax.js'

/**
 * The HTTP side of every token request the provider makes (oauth2, STS, IAM credentials,
 * metadata): our own agents, and every request tied to the provider's RequestLifetime, so close()
 * ends whatever is in flight and the process can exit; and no gaxios retries, because the plugin
 * owns retry (ctx.retry).
 */
export interface AuthTransport {
  transporter: Gaxios
  close: () => void
}

export function createAuthTransport (gax: GaxModule, lifetime = new RequestLifetime('fastify-cloud-secrets: the gcp provider')): AuthTransport {
  const httpAgent = new http.Agent({ keepAlive: true })
  const httpsAgent = new https.Agent({ keepAlive: true })
  const transporter = new gax.googleAuthLibrary.gaxios.Gaxios({
    agent: (url: URL) => url.protocol === 'http:' ? httpAgent : httpsAgent
  } as unknown as GaxiosOptions)
  transporter.interceptors.request.add({
    resolved: async (config) => {
      config.retry = false
      config.retryConfig = { ...config.retryConfig, retry: 0, noResponseRetries: 0 }
      // gaxios has no per-request "done" hook to release a link(): a request's own signal is
      // combined with the lifetime's (token requests are few; nothing accumulates on a shared signal)
      config.signal = config.signal === undefined ? lifetime.signal : AbortSignal.any([config.signal as AbortSignal, lifetime.signal])
      return config
    }
  })
  return {
    transporter,
    close: () => {
      lifetime.close()
      httpAgent.destroy()
      httpsAgent.destroy()
    }
  }
}
