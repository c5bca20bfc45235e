import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { sdkMissingError } from '../errors.js'
import type { ProviderName } from '../types.js'

/**
 * How a provider reaches its cloud's SDK. The user installs one main package per cloud; what
 * else the provider needs is resolved from inside that package's own dependency tree (so npm,
 * pnpm's isolated layout and Yarn PnP all find it), never from ours.
 */

function isNotFound (err: unknown, pkg: string): boolean {
  const code = (err as { code?: string })?.code
  const message = String((err as Error)?.message)
  // some loaders (ts-node's ESM hook) rethrow without the code: fall back to the message
  const notFound = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || /^Cannot find (?:package|module) /.test(message)
  return notFound && message.includes(pkg)
}

/** Lazily imports a cloud's main SDK package; a missing package becomes FST_CLOUD_SECRETS_SDK_MISSING. */
export async function importSdk<T> (provider: ProviderName, pkg: string): Promise<T> {
  try {
    return await import(pkg) as T
  } catch (err) {
    if (isNotFound(err, pkg)) throw sdkMissingError(provider, pkg, err)
    throw err
  }
}

/** The file a package's main entry resolves to, seen from `from` (a file path), or undefined. */
function resolveFrom (from: string, pkg: string): string | undefined {
  try {
    return createRequire(from).resolve(pkg)
  } catch (err) {
    if (isNotFound(err, pkg) || (err as { code?: string })?.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') return undefined
    throw err
  }
}

/**
 * Imports `dep` as `host` (a main SDK package the user installed) sees it: resolved from host's
 * location, so the copy is the one host itself uses. A missing host is SDK_MISSING naming host;
 * a host whose tree lacks dep (a broken install) is SDK_MISSING naming dep with a reinstall fix.
 */
export async function importFromSdk<T> (provider: ProviderName, host: string, dep: string): Promise<T> {
  const hostEntry = resolveFrom(import.meta.url, host)
  if (hostEntry === undefined) throw sdkMissingError(provider, host)
  const depEntry = resolveFrom(hostEntry, dep)
  if (depEntry === undefined) throw sdkMissingError(provider, host, new Error(`${dep} was not found in the dependency tree of ${host}; reinstall ${host}`))
  const mod = await import(pathToFileURL(depEntry).href) as T & { default?: T }
  // a CommonJS module imported from ESM exposes its exports as `default` (and, mostly, as names)
  return (Object.keys(mod).length <= 1 && mod.default !== undefined ? mod.default : mod) as T
}

/** True when `pkg` can be resolved from this package (used to name only what is really missing). */
export function isInstalled (pkg: string): boolean {
  return resolveFrom(import.meta.url, pkg) !== undefined
}
