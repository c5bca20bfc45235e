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

const requireHere = createRequire(import.meta.url)

/**
 * Loads a module the way its package prefers to be loaded from here: `require` first (the cloud
 * SDKs ship CommonJS for Node; importing CommonJS from ES makes Node lex every file for its export
 * names, ~10–20 ms of a cold start per SDK), `import()` when the file is an ES module only.
 */
async function load<T> (specifier: string, from = requireHere): Promise<T> {
  // a require blocks the event loop for its whole load, where import() reads files between turns:
  // one turn first, so what the boot just started (a connect, an early request) goes out before it
  await new Promise((resolve) => setImmediate(resolve))
  try {
    return from(specifier) as T
  } catch (err) {
    const code = (err as { code?: string })?.code
    if (code !== 'ERR_REQUIRE_ESM' && code !== 'ERR_REQUIRE_ASYNC_MODULE' && code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw err
    return await import(code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' ? specifier : pathToFileURL(from.resolve(specifier)).href) as T
  }
}

/** Lazily loads a cloud's main SDK package; a missing package becomes FST_CLOUD_SECRETS_SDK_MISSING. */
export async function importSdk<T> (provider: ProviderName, pkg: string): Promise<T> {
  try {
    return await load<T>(pkg)
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
 * The file of `dep` as the SDK sees it: `via` is a main SDK package the user installed, or a path
 * through its tree (`[main, dependency of main, …]`), each resolved from the previous one's
 * location, so the copy is the one the SDK itself uses. A missing main package is SDK_MISSING
 * naming it; a tree that lacks a step (a broken install) is SDK_MISSING with a reinstall fix.
 */
function resolveThroughSdk (provider: ProviderName, via: string | readonly string[], dep: string): string {
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
  return from
}

/** Loads `dep` as the SDK sees it (`resolveThroughSdk`). */
export async function importFromSdk<T> (provider: ProviderName, via: string | readonly string[], dep: string): Promise<T> {
  const mod = await load<T & { default?: T }>(resolveThroughSdk(provider, via, dep))
  // a CommonJS module imported from ESM (when require refused it) exposes its exports as `default`
  return (Object.keys(mod).length <= 1 && mod.default !== undefined ? mod.default : mod) as T
}

/**
 * `importFromSdk` for a CommonJS dependency, synchronously: for a getter that builds an SDK client
 * on first use (the package is installed: the provider checked it at boot).
 */
export function requireFromSdk<T> (provider: ProviderName, via: string | readonly string[], dep: string): T {
  return requireHere(resolveThroughSdk(provider, via, dep)) as T
}

/** a CommonJS file of an installed SDK package (a path the caller resolved), synchronously */
export function requireSdkFile<T> (file: string): T {
  return requireHere(file) as T
}

/** `importSdk`, synchronously (a CommonJS main package) */
export function requireSdk<T> (provider: ProviderName, pkg: string): T {
  try {
    return requireHere(pkg) as T
  } catch (err) {
    if (isNotFound(err, pkg)) throw sdkMissingError(provider, [pkg], err)
    throw err
  }
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
