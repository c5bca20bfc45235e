import { readFileSync } from 'node:fs'
import type { Env } from '../../options.js'
import { isSet } from './env.js'

/** Where the process runs, from the platform's own env vars (and whether IMDS answered). */
export function detectPlatform (env: Env, imdsAnswered = false): string {
  if (isSet(env.FUNCTIONS_WORKER_RUNTIME) || isSet(env.FUNCTIONS_EXTENSION_VERSION)) return 'functions'
  if (isSet(env.WEBSITE_SITE_NAME)) return 'app-service'
  if (isSet(env.CONTAINER_APP_NAME)) return 'container-apps'
  if (isSet(env.AZURE_FEDERATED_TOKEN_FILE) || isSet(env.KUBERNETES_SERVICE_HOST)) return 'aks'
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
