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
    if (isNotFound(err, pkg)) throw sdkMissingError(provider, [pkg], err)
    throw err
  }
}

/**
 * Imports several main packages of one cloud at once; when some are missing, one
 * SDK_MISSING names exactly those (never a package that is installed).
 */
export async function importSdks<T extends unknown[]> (provider: ProviderName, pkgs: { [K in keyof T]: string }): Promise<T> {
  const missing = (pkgs as string[]).filter((pkg) => !isInstalled(pkg))
  if (missing.length > 0) throw sdkMissingError(provider, missing)
  return await Promise.all((pkgs as string[]).map(async (pkg) => await importSdk(provider, pkg))) as T
}

/** The file a package's entry resolves to, seen from `from` (a file path or URL), or undefined. */
function resolveFrom (from: string, pkg: string): string | undefined {
  try {
    return createRequire(from).resolve(pkg)
  } catch (err) {
    if (isNotFound(err, pkg) || (err as { code?: string })?.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') return undefined
    throw err
  }
}

/** A package name without its subpath: `@aws-sdk/core/client` → `@aws-sdk/core`. */
function packageOf (specifier: string): string {
  const parts = specifier.split('/')
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]
}

/**
 * Imports `dep` as the SDK sees it: `via` is a main SDK package the user installed, or a path
 * through its tree (`[main, dependency of main, …]`), each resolved from the previous one's
 * location, so the copy is the one the SDK itself uses. A missing main package is SDK_MISSING
 * naming it; a tree that lacks a step (a broken install) is SDK_MISSING with a reinstall fix.
 */
export async function importFromSdk<T> (provider: ProviderName, via: string | readonly string[], dep: string): Promise<T> {
  const [host, ...steps] = typeof via === 'string' ? [via] : via
  let from = resolveFrom(import.meta.url, host)
  if (from === undefined) throw sdkMissingError(provider, [host])
  let seen = host
  for (const step of [...steps, dep]) {
    const next = resolveFrom(from, step)
    if (next === undefined) {
      throw sdkMissingError(provider, [host], new Error(`${packageOf(step)} was not found in the dependency tree of ${seen}; reinstall ${host}`))
    }
    from = next
    seen = packageOf(step)
  }
  const mod = await import(pathToFileURL(from).href) as T & { default?: T }
  // a CommonJS module imported from ESM exposes its exports as `default` (and, mostly, as names)
  return (Object.keys(mod).length <= 1 && mod.default !== undefined ? mod.default : mod) as T
}

/** The file a cloud's main SDK package's entry resolves to; a missing package is SDK_MISSING naming it. */
export function resolveSdk (provider: ProviderName, pkg: string): string {
  const file = resolveFrom(import.meta.url, pkg)
  if (file === undefined) throw sdkMissingError(provider, [pkg])
  return file
}

/** True when `pkg` can be resolved from this package (used to name only what is really missing). */
export function isInstalled (pkg: string): boolean {
  return resolveFrom(import.meta.url, pkg) !== undefined
}

/**
 * SDK_MISSING naming every one of `pkgs` that cannot be resolved, without importing any: a
 * provider that loads one of its packages only on some paths still asks for all of them at boot.
 */
export function requireInstalled (provider: ProviderName, pkgs: readonly string[]): void {
  const missing = pkgs.filter((pkg) => !isInstalled(pkg))
  if (missing.length > 0) throw sdkMissingError(provider, missing)
}
