import type { Env } from '../../shared/env.js'
import { nonEmpty } from '../../shared/env.js'

const DEFAULT_METADATA_HOST = '169.254.169.254'

/** Env vars Google's serverless runtimes set: any of them means the metadata server is there (no probe). */
export const SERVERLESS_MARKERS = ['K_SERVICE', 'CLOUD_RUN_JOB', 'FUNCTION_NAME', 'FUNCTION_TARGET', 'GAE_SERVICE'] as const

/** The metadata server's origin: GCE_METADATA_HOST / GCE_METADATA_IP (host[:port] or a URL), else the link-local address. */
export function metadataBaseUrl (env: Env): string {
  const host = env.GCE_METADATA_HOST ?? env.GCE_METADATA_IP ?? DEFAULT_METADATA_HOST
  return /^https?:\/\//.test(host) ? host.replace(/\/+$/, '') : `http://${host}`
}

/** The runtime platform, from the env markers Google's runtimes set and the metadata server. */
export function detectPlatform (env: Env, onMetadata: boolean): { platform: string, details: Record<string, string | undefined> } {
  if (nonEmpty(env.FUNCTION_TARGET) || nonEmpty(env.FUNCTION_NAME)) {
    return { platform: 'functions', details: { function: env.FUNCTION_TARGET ?? env.FUNCTION_NAME, service: env.K_SERVICE } }
  }
  if (nonEmpty(env.K_SERVICE)) return { platform: 'cloud-run', details: { service: env.K_SERVICE, revision: env.K_REVISION } }
  if (nonEmpty(env.CLOUD_RUN_JOB)) return { platform: 'cloud-run', details: { job: env.CLOUD_RUN_JOB, execution: env.CLOUD_RUN_EXECUTION } }
  if (nonEmpty(env.GAE_SERVICE)) return { platform: 'app-engine', details: { service: env.GAE_SERVICE, version: env.GAE_VERSION } }
  if (nonEmpty(env.KUBERNETES_SERVICE_HOST)) return { platform: onMetadata ? 'gke' : 'kubernetes', details: {} }
  if (onMetadata) return { platform: 'gce', details: {} }
  return { platform: 'local', details: {} }
}
