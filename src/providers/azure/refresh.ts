import type { SecretClient } from '@azure/keyvault-secrets'
import { CloudSecretsError, isDeadlineError } from '../../errors.js'
import type { SecretReference } from '../../reference.js'
import type { Logger } from '../../types.js'
import type { ChangedSecrets, LoadContext, StoreCost } from '../types.js'
import { classifyVaultError } from './errors.js'
import { secretLocation } from './grant.js'
import { stampKey } from './secrets.js'

const QUOTA_SOURCE = 'https://learn.microsoft.com/azure/key-vault/general/service-limits'
/** secrets per page of a Key Vault list (its maximum `maxresults`) */
export const LIST_PAGE_SIZE = 25
/** the data action a list of secret properties needs (Key Vault Reader / Secrets User at vault scope, or access policy `list`) */
export const LIST_PERMISSION = 'Microsoft.KeyVault/vaults/secrets/readMetadata/action'

export interface ChangeDeps {
  secretClient: (vaultUrl: string) => SecretClient
  defaultVaultUrl?: string
  stamps: Map<string, number | undefined>
  /** vaults whose listing was denied: read every secret instead (said once) */
  listDenied: Set<string>
  log: Logger
}

/**
 * Key Vault has no batch read: instead of one GET per secret every cycle, list the vault's secret
 * properties (25 per page) and re-read only the secrets whose current version was updated since
 * they were read (or that the listing does not show: deleted, so the read reports it).
 */
export async function changedAzureSecrets (refs: readonly SecretReference[], ctx: LoadContext, deps: ChangeDeps): Promise<ChangedSecrets> {
  const changed: SecretReference[] = []
  const failed = new Map<string, CloudSecretsError>()
  const byVault = new Map<string, { host: string, refs: Array<{ ref: SecretReference, name: string }> }>()
  for (const ref of refs) {
    const where = secretLocation(ref, deps.defaultVaultUrl)
    if (where === undefined) { changed.push(ref); continue }
    const entry = byVault.get(where.vaultUrl) ?? { host: where.host, refs: [] }
    entry.refs.push({ ref, name: where.name })
    byVault.set(where.vaultUrl, entry)
  }
  await Promise.all([...byVault].map(async ([vaultUrl, { host, refs: inVault }]) => {
    if (deps.listDenied.has(vaultUrl)) { changed.push(...inVault.map((r) => r.ref)); return }
    const listed = new Map<string, number | undefined>()
    try {
      await ctx.limit(async () => await ctx.retry(`list secret properties (Key Vault ${host})`, async (signal) => {
        listed.clear()
        for await (const page of deps.secretClient(vaultUrl).listPropertiesOfSecrets({ abortSignal: signal }).byPage({ maxPageSize: LIST_PAGE_SIZE })) {
          for (const p of page) listed.set(p.name.toLowerCase(), p.updatedOn?.getTime())
        }
      }, (err) => classifyVaultError(err, { vaultHost: host, secret: '(list of secrets)', identity: ctx.identity })))
    } catch (err) {
      if (isDeadlineError(err)) throw err
      const error = classifyVaultError(err, { vaultHost: host, secret: '(list of secrets)', identity: ctx.identity })
      if (error.kind === 'ACCESS_DENIED') {
        deps.listDenied.add(vaultUrl)
        deps.log.info({ vault: host, permission: LIST_PERMISSION }, 'listing the secrets of %s is not allowed, so each refresh reads every secret (one GET each); grant list (%s) to need one list call per 25 secrets', host, LIST_PERMISSION)
        changed.push(...inVault.map((r) => r.ref))
        return
      }
      for (const { ref } of inVault) failed.set(ref.alias, error.forAlias(ref.alias, ref.id))
      return
    }
    for (const { ref, name } of inVault) {
      const key = stampKey(vaultUrl, name)
      const known = deps.stamps.get(key)
      const now = listed.get(name.toLowerCase())
      if (!deps.stamps.has(key) || !listed.has(name.toLowerCase()) || known === undefined || now !== known) changed.push(ref)
    }
  }))
  return { changed, failed }
}

/** One list call per 25 secrets of each vault (plus a GET for each secret that changed). */
export function azureRefreshCost (refs: readonly SecretReference[], defaultVaultUrl: string | undefined): StoreCost[] {
  const byVault = new Map<string, Set<string>>()
  for (const ref of refs) {
    const where = secretLocation(ref, defaultVaultUrl)
    if (where === undefined) continue
    const names = byVault.get(where.host) ?? new Set<string>()
    names.add(where.name.toLowerCase())
    byVault.set(where.host, names)
  }
  return [...byVault].map(([host, names]) => {
    const pages = Math.max(1, Math.ceil(names.size / LIST_PAGE_SIZE))
    return {
      store: `Key Vault ${host}`,
      requests: pages,
      calls: `${pages} list page${pages === 1 ? '' : 's'} (at least; one per 25 secrets in the vault) + one GET per changed secret`,
      quota: { requests: 4000, perSeconds: 10, name: 'transactions', scope: 'per vault and region', source: QUOTA_SOURCE }
    }
  })
}
