import type { SecretReference } from '../../reference.js'

// Which references go out in BatchGetSecretValue calls, and how they are split: the read path,
// the refresh cost and the IAM grant (BatchGetSecretValue is granted only when batching is used)
// all follow this one plan.

/** BatchGetSecretValue holds at most this many ids per call. */
export const BATCH_LIMIT = 20

/** A reference pinned to a version or stage is read with GetSecretValue only. */
export function isPinned (ref: Pick<SecretReference, 'version' | 'stage'>): boolean {
  return ref.version !== undefined || ref.stage !== undefined
}

/** Distinct secret ids that are read with BatchGetSecretValue (unpinned, two or more). */
export function batchedIds (refs: readonly SecretReference[]): string[] {
  const ids = [...new Set(refs.filter((r) => r.provider === 'aws' && !isPinned(r)).map((r) => r.id))]
  return ids.length >= 2 ? ids : []
}

/** Splits a list into chunks of `size`. */
export function chunk<T> (items: readonly T[], size = BATCH_LIMIT): T[][] {
  const chunks: T[][] = []
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size))
  return chunks
}
