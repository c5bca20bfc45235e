import type { SecretReference } from '../../reference.js'
import type { Identity } from '../../types.js'
import type { GrantDocument } from '../types.js'

/** Built-in role "Key Vault Secrets User" (read secret contents), the least privilege to read a secret. */
export const SECRETS_USER_ROLE = 'Key Vault Secrets User'
export const SECRETS_USER_ROLE_ID = '4633458b-17de-408a-b874-0445c86b69e6'

/** A vault named by its host: `myvault.vault.azure.net` → `myvault`. */
export function vaultName (vaultHost: string): string {
  return vaultHost.toLowerCase().split('.')[0]
}

/** `https://myvault.vault.azure.net/secrets/name` → host, name; short names use the default vault. */
export function secretLocation (ref: Pick<SecretReference, 'id'>, defaultVaultUrl?: string): { vaultUrl: string, host: string, name: string } | undefined {
  if (ref.id.startsWith('https://')) {
    const url = new URL(ref.id)
    return { vaultUrl: `https://${url.host}`, host: url.host, name: url.pathname.split('/')[2] }
  }
  if (defaultVaultUrl === undefined) return undefined
  return { vaultUrl: defaultVaultUrl, host: new URL(defaultVaultUrl).host, name: ref.id }
}

export interface GrantPrincipal {
  /** Entra object id; undefined when it is not known yet */
  objectId?: string
  appId?: string
  /** ServicePrincipal (apps, managed identities) or User (az login) */
  type: 'ServicePrincipal' | 'User'
}

export function grantPrincipal (identity: Pick<Identity, 'principal' | 'details'> | undefined): GrantPrincipal {
  const details = identity?.details ?? {}
  const appId = typeof details.appId === 'string' ? details.appId : undefined
  const objectId = typeof details.objectId === 'string' ? details.objectId : identity?.principal
  return { objectId, appId, type: details.principalType === 'User' ? 'User' : 'ServicePrincipal' }
}

function objectIdArg (p: GrantPrincipal): string {
  if (p.objectId !== undefined) return p.objectId
  return p.appId !== undefined ? `"$(az ad sp show --id ${p.appId} --query id -o tsv)"` : '<principal-object-id>'
}

function vaultScope (vault: string): string {
  return `"$(az keyvault show --name ${vault} --query id -o tsv)"`
}

/** The az command that grants read access to every secret of the vault (Azure RBAC vaults). */
export function roleAssignmentCommand (principal: GrantPrincipal, vault: string): string {
  return `az role assignment create --assignee-object-id ${objectIdArg(principal)} --assignee-principal-type ${principal.type} --role "${SECRETS_USER_ROLE}" --scope ${vaultScope(vault)}`
}

/** The same grant narrowed to one secret. */
export function secretRoleAssignmentCommand (principal: GrantPrincipal, vault: string, secret: string): string {
  return `az role assignment create --assignee-object-id ${objectIdArg(principal)} --assignee-principal-type ${principal.type} --role "${SECRETS_USER_ROLE}" --scope "$(az keyvault show --name ${vault} --query id -o tsv)/secrets/${secret}"`
}

/** For vaults still on the access-policy permission model. */
export function accessPolicyCommand (principal: GrantPrincipal, vault: string, list = false): string {
  return `az keyvault set-policy --name ${vault} --object-id ${objectIdArg(principal)} --secret-permissions get${list ? ' list' : ''}`
}

/** Built-in role "Key Vault Reader": metadata only (lists secret properties, never values), for refresh with per-secret assignments. */
export const READER_ROLE = 'Key Vault Reader'

export function readerAssignmentCommand (principal: GrantPrincipal, vault: string): string {
  return `az role assignment create --assignee-object-id ${objectIdArg(principal)} --assignee-principal-type ${principal.type} --role "${READER_ROLE}" --scope ${vaultScope(vault)}`
}

/** Re-enables a disabled secret (the value is kept while disabled). */
export function enableSecretCommand (vault: string, secret: string): string {
  return `az keyvault secret set-attributes --vault-name ${vault} --name ${secret} --enabled true`
}

function bicepIdentifier (vault: string): string {
  return vault.replace(/[^A-Za-z0-9]/g, '_')
}

/** A Bicep role assignment of Key Vault Secrets User on the vault, for infrastructure as code. */
export function bicepRoleAssignment (principal: GrantPrincipal, vault: string): string {
  const id = bicepIdentifier(vault)
  const principalId = principal.objectId !== undefined ? `'${principal.objectId}'` : 'principalId // the object id of the app\'s managed identity'
  return [
    `resource ${id} 'Microsoft.KeyVault/vaults@2023-07-01' existing = {`,
    `  name: '${vault}'`,
    '}',
    '',
    `resource ${id}SecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {`,
    `  name: guid(${id}.id, ${principalId.split(' //')[0]}, '${SECRETS_USER_ROLE_ID}')`,
    `  scope: ${id}`,
    '  properties: {',
    `    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '${SECRETS_USER_ROLE_ID}') // ${SECRETS_USER_ROLE}`,
    `    principalId: ${principalId}`,
    `    principalType: '${principal.type}'`,
    '  }',
    '}'
  ].join('\n')
}

/**
 * The least-privilege grant for `refs`: per vault, the role assignment (az and Bicep) and the
 * access-policy alternative. Pure: no network, same input → same text.
 */
/** `refresh`: the background refresh lists secret properties, so the grant adds list (and only then) */
export function grantDocuments (refs: readonly SecretReference[], identity: Identity | undefined, defaultVaultUrl?: string, refresh = false): GrantDocument[] {
  const principal = grantPrincipal(identity)
  const vaults = new Map<string, Set<string>>()
  for (const ref of refs) {
    if (ref.provider !== 'azure') continue
    const where = secretLocation(ref, defaultVaultUrl)
    if (where === undefined) continue
    const names = vaults.get(where.host) ?? new Set<string>()
    names.add(where.name)
    vaults.set(where.host, names)
  }
  const who = principal.objectId ?? principal.appId ?? 'the app\'s identity'
  const docs: GrantDocument[] = []
  for (const [host, names] of vaults) {
    const vault = vaultName(host)
    const secrets = [...names].sort()
    docs.push({
      title: `Azure RBAC: ${SECRETS_USER_ROLE} for ${who} on vault ${vault} (${host}); it reads ${secrets.join(', ')}`,
      format: 'sh',
      text: [
        `# whole vault (${secrets.length} secret${secrets.length === 1 ? '' : 's'} used)`,
        roleAssignmentCommand(principal, vault),
        '# or, narrower, one assignment per secret:',
        ...secrets.map((s) => secretRoleAssignmentCommand(principal, vault, s)),
        ...(refresh ? ['# refresh is on: it lists the vault\'s secret properties (no values) once per cycle; with per-secret assignments also:', readerAssignmentCommand(principal, vault)] : [])
      ].join('\n')
    })
    docs.push({ title: `Bicep: ${SECRETS_USER_ROLE} on vault ${vault}`, format: 'bicep', text: bicepRoleAssignment(principal, vault) })
    docs.push({ title: `Access policy (only for vaults that do not use Azure RBAC): secret get${refresh ? ' and list (refresh is on)' : ''} on ${vault}`, format: 'sh', text: accessPolicyCommand(principal, vault, refresh) })
  }
  return docs
}
