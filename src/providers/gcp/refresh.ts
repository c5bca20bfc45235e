import type { SecretReference } from '../../reference.js'
import type { StoreCost } from '../types.js'
import { secretLocation } from './grant.js'

const QUOTA_SOURCE = 'https://cloud.google.com/secret-manager/quotas'

/**
 * A refresh cycle sends one AccessSecretVersion per distinct secret (the answer names the version
 * `latest` resolved to, which is what is compared); metadata calls would count against the far
 * smaller read quota (600 per minute per project) and need a second role, for no saving.
 */
export function gcpRefreshCost (refs: readonly SecretReference[], projectId: string | undefined): StoreCost[] {
  const byProject = new Map<string, Set<string>>()
  for (const ref of refs) {
    const where = secretLocation(ref, projectId)
    const project = where.project
    const names = byProject.get(project) ?? new Set<string>()
    names.add(`${where.location ?? ''}/${where.secret}/${ref.version ?? 'latest'}`)
    byProject.set(project, names)
  }
  return [...byProject].map(([project, names]) => ({
    store: `Secret Manager project ${project}`,
    requests: names.size,
    calls: `${names.size} AccessSecretVersion call${names.size === 1 ? '' : 's'}`,
    quota: { requests: 90_000, perSeconds: 60, name: 'access requests', scope: 'per project', source: QUOTA_SOURCE }
  }))
}
