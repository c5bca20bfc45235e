import { readFileSync } from 'node:fs'
import type { Env } from '../../shared/env.js'
import { nonEmpty } from '../../shared/env.js'

/** Where the process runs, from the platform's own env vars (and whether IMDS answered). */
export function detectPlatform (env: Env, imdsAnswered = false): string {
  if (nonEmpty(env.FUNCTIONS_WORKER_RUNTIME) || nonEmpty(env.FUNCTIONS_EXTENSION_VERSION)) return 'functions'
  if (nonEmpty(env.WEBSITE_SITE_NAME)) return 'app-service'
  if (nonEmpty(env.CONTAINER_APP_NAME)) return 'container-apps'
  if (nonEmpty(env.AZURE_FEDERATED_TOKEN_FILE) || nonEmpty(env.KUBERNETES_SERVICE_HOST)) return 'aks'
  if (imdsAnswered) return 'vm'
  return 'local'
}

/** Linux DMI says whether this is an Azure (Hyper-V) machine; undefined when it cannot tell. */
export function dmiVendor (file = '/sys/class/dmi/id/sys_vendor'): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim()
  } catch {
    return undefined
  }
}
