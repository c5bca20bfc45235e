import type { SecretReference } from '../../reference.js'
import type { StoreCost } from '../types.js'
import { BATCH_LIMIT, batchedIds, isPinned } from './batches.js'
import { secretRegion } from './grant.js'

const QUOTA_SOURCE = 'https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html'

/**
 * A refresh cycle re-reads the secrets the way startup does: the unpinned ones 20 per
 * BatchGetSecretValue call (the answer carries each VersionId, so one call per 20 secrets tells
 * what changed), stage-pinned ones with GetSecretValue. Quotas are per account and region.
 */
export function awsRefreshCost (refs: readonly SecretReference[], region: string): StoreCost[] {
  const batched = new Set(batchedIds(refs))
  const byRegion = new Map<string, { batch: Set<string>, single: Set<string> }>()
  for (const ref of refs) {
    const where = secretRegion(ref.id, region) ?? region
    const entry = byRegion.get(where) ?? { batch: new Set<string>(), single: new Set<string>() }
    if (!isPinned(ref) && batched.has(ref.id)) entry.batch.add(ref.id)
    else entry.single.add(`${ref.id}\u0000${ref.stage ?? ''}`)
    byRegion.set(where, entry)
  }
  const costs: StoreCost[] = []
  for (const [where, { batch, single }] of byRegion) {
    const calls = Math.ceil(batch.size / BATCH_LIMIT)
    if (calls > 0) {
      costs.push({
        store: `Secrets Manager ${where} (BatchGetSecretValue)`,
        requests: calls,
        calls: `${calls} BatchGetSecretValue call${calls === 1 ? '' : 's'} (${batch.size} secrets, ${BATCH_LIMIT} per call)`,
        quota: { requests: 100, perSeconds: 1, name: 'BatchGetSecretValue requests', scope: 'per account and region', source: QUOTA_SOURCE }
      })
    }
    if (single.size > 0) {
      costs.push({
        store: `Secrets Manager ${where} (GetSecretValue)`,
        requests: single.size,
        calls: `${single.size} GetSecretValue call${single.size === 1 ? '' : 's'}`,
        quota: { requests: 10_000, perSeconds: 1, name: 'GetSecretValue requests', scope: 'per account and region', source: QUOTA_SOURCE }
      })
    }
  }
  return costs
}
