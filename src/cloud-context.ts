import { inspect } from 'node:util'
import type { CloudContext, Identity, ProviderName } from './types.js'

/** `app.cloud`: identity report plus each provider's handles; serializes to the identity only. */
export function createCloudContext (identity: Identity, identities: Partial<Record<ProviderName, Identity>>, clients: Partial<Record<ProviderName, object>>, refresh?: object): CloudContext {
  const identityCopies = Object.fromEntries(Object.entries(identities).map(([name, id]) => [name, frozenIdentity(id)]))
  const cloud: Record<string | symbol, unknown> = { identity: frozenIdentity(identity), identities: Object.freeze(identityCopies) }
  for (const [name, handles] of Object.entries(clients)) cloud[name] = handles
  if (refresh !== undefined) cloud.refresh = refresh
  const report = (): Record<string, unknown> => ({ identity: cloud.identity, identities: cloud.identities })
  Object.defineProperty(cloud, 'toJSON', { value: report, enumerable: false })
  Object.defineProperty(cloud, inspect.custom, { value: (_depth: number, opts: object) => `CloudContext ${inspect(report(), { ...opts, depth: 3 })}`, enumerable: false })
  return Object.freeze(cloud) as unknown as CloudContext
}

/** a copy no app code can edit, down to `details` (the report is what logs and checks trust) */
function frozenIdentity (identity: Identity): Identity {
  const copy = { ...identity }
  if (identity.details !== undefined) copy.details = Object.freeze({ ...identity.details })
  return Object.freeze(copy)
}
