import { performance } from 'node:perf_hooks'
import type { SecretClient } from '@azure/keyvault-secrets'
import { CloudSecretsError, isDeadlineError } from '../../errors.js'
import type { SecretReference } from '../../reference.js'
import type { LoadContext, SecretOutcome } from '../types.js'
import { classifyVaultError } from './errors.js'
import { secretLocation } from './grant.js'

export interface LoadDeps {
  secretClient: (vaultUrl: string) => SecretClient
  defaultVaultUrl?: string
  /** vault/name → `updatedOn` of the current version last read: what the refresh's listing is compared with */
  stamps?: Map<string, number | undefined>
}

/** the key of a secret in `stamps` */
export function stampKey (vaultUrl: string, name: string): string {
  return `${vaultUrl.toLowerCase()}/secrets/${name.toLowerCase()}`
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
    const key = `${where.vaultUrl.toLowerCase()}/secrets/${where.name.toLowerCase()}/${ref.version ?? ''}`
    let call = calls.get(key)
    if (call === undefined) {
      const vaultKey = where.vaultUrl.toLowerCase()
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

async function fetchSecret (ref: SecretReference, where: { vaultUrl: string, host: string, name: string }, ctx: LoadContext, deps: LoadDeps): Promise<SecretOutcome> {
  const client = deps.secretClient(where.vaultUrl)
  const label = `secret "${ref.alias}" (Key Vault ${where.host}/secrets/${where.name}${ref.version !== undefined ? `/${ref.version}` : ''})`
  const started = performance.now()
  try {
    const secret = await ctx.limit(async () => await ctx.retry(label, async (signal) => await client.getSecret(where.name, { version: ref.version, abortSignal: signal }),
      (err) => classifyVaultError(err, { alias: ref.alias, vaultHost: where.host, secret: where.name, version: ref.version, identity: ctx.identity })))
    if (ref.version === undefined) deps.stamps?.set(stampKey(where.vaultUrl, where.name), secret.properties.updatedOn?.getTime())
    return { ok: true, value: secret.value ?? '', version: secret.properties.version, store: `keyvault:${where.host}`, ms: performance.now() - started }
  } catch (err) {
    if (isDeadlineError(err)) throw err
    return { ok: false, error: classifyVaultError(err, { alias: ref.alias, vaultHost: where.host, secret: where.name, version: ref.version, identity: ctx.identity }) }
  }
}
