import { performance } from 'node:perf_hooks'
import { CloudSecretsError, isDeadlineError } from '../../errors.js'
import type { SecretReference } from '../../reference.js'
import type { LoadContext, SecretOutcome } from '../types.js'
import { classifyVaultError } from './errors.js'
import { secretLocation } from './grant.js'
import type { VaultSecret } from './vault-reader.js'

/** Get Secret at a vault: `vault-reader.ts` */
export type ReadSecret = (vaultUrl: string, name: string, version: string | undefined, signal: AbortSignal) => Promise<VaultSecret>

export interface LoadDeps {
  read: ReadSecret
  defaultVaultUrl?: string
  /** vault/name → `updatedOn` of the current version last read: what the refresh's listing is compared with */
  stamps?: Map<string, number | undefined>
  /** per vault (lower-case URL): its first read, sent beside the token request (see `openVaults`) */
  openers?: ReadonlyMap<string, VaultOpener>
}

/** the key of a secret in `stamps` */
export function stampKey (vaultUrl: string, name: string): string {
  return `${vaultUrl.toLowerCase()}/secrets/${name.toLowerCase()}`
}

/** A vault's first read, started before the identity is known: its 401 challenge needs no token. */
export interface VaultOpener {
  /** the call key of the secret it reads */
  key: string
  read: Promise<VaultSecret>
  /** settles once the vault's client has its challenge (it asked for a token): the others may go */
  challenged: Promise<void>
}

function callKey (vaultUrl: string, name: string, version?: string): string {
  return `${vaultUrl.toLowerCase()}/secrets/${name.toLowerCase()}/${version ?? ''}`
}

/**
 * Sends each vault's first read now, beside the token request: the challenge round trip (on a
 * connection the pool is already opening) then overlaps the identity instead of following it.
 * The load takes the answer as that call's first attempt and classifies it as usual.
 */
export function openVaults (refs: readonly SecretReference[], deps: Pick<LoadDeps, 'read' | 'defaultVaultUrl'>, signal: AbortSignal, challenged: Promise<void>): Map<string, VaultOpener> {
  const openers = new Map<string, VaultOpener>()
  for (const ref of refs) {
    const where = secretLocation(ref, deps.defaultVaultUrl)
    if (where === undefined || openers.has(where.vaultUrl.toLowerCase())) continue
    const read = deps.read(where.vaultUrl, where.name, ref.version, signal)
    // a read nobody takes (the identity failed) must not be an unhandled rejection
    read.catch(() => {})
    openers.set(where.vaultUrl.toLowerCase(), { key: callKey(where.vaultUrl, where.name, ref.version), read, challenged })
  }
  return openers
}

/** `https://host/.default` for the vaults used: vault.azure.net, or a sovereign cloud's suffix. */
export function vaultScopes (refs: readonly SecretReference[], defaultVaultUrl?: string): string[] {
  const scopes = new Set<string>()
  for (const ref of refs) {
    if (ref.provider !== 'azure') continue
    const where = secretLocation(ref, defaultVaultUrl)
    if (where === undefined) continue
    const suffix = where.host.split('.').slice(1).join('.')
    scopes.add(`https://${suffix}/.default`)
  }
  return [...scopes]
}

/**
 * Reads every reference from Key Vault, one GET per distinct secret/version (aliases that share
 * one, e.g. different `#keys`, share the call). Each call is a bounded, retried step.
 */
export async function loadSecrets (refs: readonly SecretReference[], ctx: LoadContext, deps: LoadDeps): Promise<Map<string, SecretOutcome>> {
  const outcomes = new Map<string, SecretOutcome>()
  const calls = new Map<string, Promise<SecretOutcome>>()
  // The first request to a vault gets a 401 challenge, which the client then remembers: let
  // one request per vault settle it, then fan out, instead of every parallel first request
  // paying the challenge round trip.
  const opened = new Map<string, Promise<unknown>>()

  await Promise.all(refs.map(async (ref) => {
    const where = secretLocation(ref, deps.defaultVaultUrl)
    if (where === undefined) {
      outcomes.set(ref.alias, { ok: false, error: new CloudSecretsError('CONFIG', `secret "${ref.id}" has no vault: set AZURE_KEYVAULT_URL or use a full secret URL`, { provider: 'azure', alias: ref.alias, secret: ref.id }) })
      return
    }
    const key = callKey(where.vaultUrl, where.name, ref.version)
    let call = calls.get(key)
    const vaultKey = where.vaultUrl.toLowerCase()
    const early = deps.openers?.get(vaultKey)
    if (call === undefined && early !== undefined) {
      if (early.key === key) {
        call = fetchSecret(ref, where, ctx, deps, early.read)
      } else {
        // the others go once the challenge is known (or the first read settled, whichever is first)
        const ready = Promise.race([early.challenged, early.read.then(() => {}, () => {})])
        call = ready.then(async () => await fetchSecret(ref, where, ctx, deps))
      }
      calls.set(key, call)
    }
    if (call === undefined) {
      const opener = opened.get(vaultKey)
      if (opener === undefined) {
        call = fetchSecret(ref, where, ctx, deps)
        opened.set(vaultKey, call.catch(() => undefined))
      } else {
        call = opener.then(async () => await fetchSecret(ref, where, ctx, deps))
      }
      calls.set(key, call)
    }
    try {
      outcomes.set(ref.alias, await call)
    } catch (err) {
      if (isDeadlineError(err)) throw err
      /* c8 ignore next 2 */
      outcomes.set(ref.alias, { ok: false, error: classifyVaultError(err, { alias: ref.alias, vaultHost: where.host, secret: where.name, version: ref.version, identity: ctx.identity }) })
    }
  }))
  return outcomes
}

async function fetchSecret (ref: SecretReference, where: { vaultUrl: string, host: string, name: string }, ctx: LoadContext, deps: LoadDeps, early?: Promise<VaultSecret>): Promise<SecretOutcome> {
  const label = `secret "${ref.alias}" (Key Vault ${where.host}/secrets/${where.name}${ref.version !== undefined ? `/${ref.version}` : ''})`
  const started = performance.now()
  try {
    const secret = await ctx.limit(async () => await ctx.retry(label, async (signal, n) => n === 0 && early !== undefined ? await early : await deps.read(where.vaultUrl, where.name, ref.version, signal),
      (err) => classifyVaultError(err, { alias: ref.alias, vaultHost: where.host, secret: where.name, version: ref.version, identity: ctx.identity })))
    if (ref.version === undefined) deps.stamps?.set(stampKey(where.vaultUrl, where.name), secret.updatedOn)
    return { ok: true, value: secret.value ?? '', version: secret.version, store: `keyvault:${where.host}`, ms: performance.now() - started }
  } catch (err) {
    if (isDeadlineError(err)) throw err
    return { ok: false, error: classifyVaultError(err, { alias: ref.alias, vaultHost: where.host, secret: where.name, version: ref.version, identity: ctx.identity }) }
  }
}
