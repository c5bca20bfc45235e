import { performance } from 'node:perf_hooks'
import type * as SecretsManagerSdk from '@aws-sdk/client-secrets-manager'
import { CloudSecretsError } from '../../errors.js'
import type { SecretReference } from '../../reference.js'
import type { Logger } from '../../types.js'
import type { LoadContext, SecretOutcome } from '../types.js'
import { classifyAwsError, classifyBatchItem, notFound, type AwsCallContext } from './errors.js'
import { BATCH_GET_SECRET_VALUE, batchedIds, chunk, GET_SECRET_VALUE, isPinned } from './grant.js'

export type SecretsManagerModule = Pick<typeof SecretsManagerSdk, 'GetSecretValueCommand' | 'BatchGetSecretValueCommand'>

export interface SecretsDeps {
  sdk: SecretsManagerModule
  client: SecretsManagerSdk.SecretsManagerClient
  region: string
  profile?: string
  log: Logger
  /** shared across one startup: once the batch call is denied, every chunk reads singly */
  batch: { denied: boolean }
}

/** One secret as read from the store: several aliases may share it (e.g. different #keys). */
interface Fetch {
  key: string
  id: string
  version?: string
  stage?: string
  refs: SecretReference[]
}

interface SecretPayload {
  ARN?: string
  Name?: string
  VersionId?: string
  SecretString?: string
  SecretBinary?: Uint8Array
}

function fetchKey (ref: SecretReference): string {
  return `${ref.id}\u0000${ref.version ?? ''}\u0000${ref.stage ?? ''}`
}

function aliasesOf (refs: readonly SecretReference[]): string {
  const names = refs.map((r) => `"${r.alias}"`)
  return names.length > 3 ? `${names.slice(0, 3).join(', ')} …` : names.join(', ')
}

/**
 * Reads every AWS reference: unpinned secrets with BatchGetSecretValue (20 ids per call) when
 * there are two or more, pinned ones (version= / stage=) and the rest with GetSecretValue. The
 * batch call itself denied → single calls, said once at info.
 */
export async function loadAwsSecrets (refs: readonly SecretReference[], ctx: LoadContext, deps: SecretsDeps): Promise<Map<string, SecretOutcome>> {
  const fetches = new Map<string, Fetch>()
  for (const ref of refs) {
    const key = fetchKey(ref)
    const f = fetches.get(key) ?? { key, id: ref.id, version: ref.version, stage: ref.stage, refs: [] }
    f.refs.push(ref)
    fetches.set(key, f)
  }
  const results = new Map<string, SecretOutcome>()
  const settle = (f: Fetch, outcome: SecretOutcome): void => { results.set(f.key, outcome) }
  const callContext = (f: Fetch | undefined, action: string): AwsCallContext => ({
    refs, identity: ctx.identity, action, secret: f?.id, version: f?.version, stage: f?.stage, profile: deps.profile
  })

  const single = async (f: Fetch): Promise<void> => {
    const started = performance.now()
    const pin = f.version !== undefined ? ` version ${f.version}` : f.stage !== undefined ? ` stage ${f.stage}` : ''
    try {
      const out = await ctx.retry(`secret ${aliasesOf(f.refs)} (GetSecretValue ${f.id}${pin})`, async (signal) =>
        await deps.client.send(new deps.sdk.GetSecretValueCommand({ SecretId: f.id, VersionId: f.version, VersionStage: f.stage }), { abortSignal: signal }),
      (err) => classifyAwsError(err, callContext(f, GET_SECRET_VALUE)))
      settle(f, outcomeOf(out, f, callContext(f, GET_SECRET_VALUE), deps.region, performance.now() - started))
    } catch (err) {
      if (err instanceof CloudSecretsError && err.kind === 'TIMEOUT') throw err
      settle(f, { ok: false, error: classifyAwsError(err, callContext(f, GET_SECRET_VALUE)) })
    }
  }

  /** One BatchGetSecretValue call; returns what must still be read singly. */
  const batch = async (group: Fetch[]): Promise<Fetch[]> => {
    if (deps.batch.denied) return group
    const started = performance.now()
    const byId = new Map(group.map((f) => [f.id, f]))
    const batchContext = { ...callContext(undefined, BATCH_GET_SECRET_VALUE), batch: [...byId.keys()] }
    let out: SecretsManagerSdk.BatchGetSecretValueCommandOutput
    try {
      out = await ctx.retry(`secrets ${aliasesOf(group.flatMap((f) => f.refs))} (BatchGetSecretValue, ${group.length} ids)`, async (signal) =>
        await deps.client.send(new deps.sdk.BatchGetSecretValueCommand({ SecretIdList: [...byId.keys()] }), { abortSignal: signal }),
      (err) => classifyAwsError(err, batchContext))
    } catch (err) {
      if (err instanceof CloudSecretsError && err.kind === 'TIMEOUT') throw err
      const error = classifyAwsError(err, batchContext)
      if (error.kind === 'ACCESS_DENIED' && error.permission === BATCH_GET_SECRET_VALUE) {
        if (!deps.batch.denied) {
          deps.batch.denied = true
          deps.log.info({ principal: ctx.identity.principal, permission: BATCH_GET_SECRET_VALUE }, 'cloud secrets: %s is not allowed for %s; reading each secret with its own GetSecretValue call instead (grant it to need one call per 20 secrets)', BATCH_GET_SECRET_VALUE, ctx.identity.principal ?? 'this identity')
        }
        return group
      }
      for (const f of group) settle(f, { ok: false, error: new CloudSecretsError(error.kind, error.summary, { ...error.details(), secret: f.id }) })
      return []
    }
    const ms = performance.now() - started
    const left = new Set(group)
    for (const value of out.SecretValues ?? []) {
      const f = match(byId, left, value)
      if (f === undefined) continue
      left.delete(f)
      settle(f, outcomeOf(value, f, callContext(f, GET_SECRET_VALUE), deps.region, ms))
    }
    const retry: Fetch[] = []
    for (const item of out.Errors ?? []) {
      const f = item.SecretId === undefined ? undefined : byId.get(item.SecretId)
      if (f === undefined || !left.has(f)) continue
      left.delete(f)
      const error = classifyBatchItem(item, callContext(f, GET_SECRET_VALUE))
      // a per-item throttle or internal error is read again on its own, with the usual retries
      if (error.retryable) retry.push(f)
      else settle(f, { ok: false, error })
    }
    // an id the answer did not mention at all (e.g. a partial ARN): read it singly
    return [...retry, ...left]
  }

  const all = [...fetches.values()]
  const batched = new Set(batchedIds(refs))
  const singles = all.filter((f) => isPinned(f) || !batched.has(f.id))
  const grouped = all.filter((f) => !isPinned(f) && batched.has(f.id))
  await Promise.all([
    ...singles.map(async (f) => { await ctx.limit(async () => { await single(f) }) }),
    ...chunk(grouped).map(async (group) => {
      const rest = await ctx.limit(async () => await batch(group))
      await Promise.all(rest.map(async (f) => { await ctx.limit(async () => { await single(f) }) }))
    })
  ])

  const outcomes = new Map<string, SecretOutcome>()
  for (const f of all) {
    const outcome = results.get(f.key) as SecretOutcome
    for (const ref of f.refs) outcomes.set(ref.alias, outcome)
  }
  return outcomes
}

/** The requested id a returned value answers (by ARN, name or partial ARN), among those not yet answered. */
function match (byId: ReadonlyMap<string, Fetch>, left: ReadonlySet<Fetch>, value: SecretPayload): Fetch | undefined {
  const open = (id: string | undefined): Fetch | undefined => {
    const f = id === undefined ? undefined : byId.get(id)
    return f !== undefined && left.has(f) ? f : undefined
  }
  const direct = open(value.ARN) ?? open(value.Name)
  if (direct !== undefined || value.ARN === undefined) return direct
  // a partial ARN (without the 6-character suffix) names the same secret
  const arn = value.ARN
  for (const [id, f] of byId) if (left.has(f) && id.startsWith('arn:') && arn.startsWith(`${id}-`) && arn.length === id.length + 7) return f
  return undefined
}

/**
 * SecretString as is; SecretBinary as base64 text (lossless: `Buffer.from(value, 'base64')`
 * gives the bytes back), because app.secrets holds strings.
 */
export function outcomeOf (value: SecretPayload, f: Pick<Fetch, 'id'>, ctx: AwsCallContext, region: string, ms: number): SecretOutcome {
  const store = `aws-secrets-manager:${region}`
  if (typeof value.SecretString === 'string') return { ok: true, value: value.SecretString, version: value.VersionId, store, ms }
  if (value.SecretBinary !== undefined) return { ok: true, value: Buffer.from(value.SecretBinary).toString('base64'), version: value.VersionId, store, ms }
  return { ok: false, error: notFound({ ...ctx, secret: f.id }, 'the version has neither SecretString nor SecretBinary') }
}
