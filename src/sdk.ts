import { sdkMissingError } from './errors.js'
import type { ProviderName } from './types.js'

/** Lazily imports a cloud SDK; a missing package becomes FST_CLOUD_SECRETS_SDK_MISSING. */
export async function importSdk<T> (provider: ProviderName, pkg: string): Promise<T> {
  try {
    return await import(pkg) as T
  } catch (err) {
    const code = (err as { code?: string }).code
    const message = String((err as Error)?.message)
    // some loaders (ts-node's ESM hook) rethrow without the code: fall back to the message
    const notFound = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || /^Cannot find (?:package|module) /.test(message)
    if (notFound && message.includes(pkg)) {
      throw sdkMissingError(provider, pkg, err)
    }
    throw err
  }
}
