import { performance } from 'node:perf_hooks'
import type * as SecretsManagerSdk from '@aws-sdk/client-secrets-manager'
import { CloudSecretsError, isDeadlineError } from '../../errors.js'
import type { SecretReference } from '../../reference.js'
import type { Logger } from '../../types.js'
import type { LoadContext, SecretOutcome } from '../types.js'
import { classifyAwsError, classifyBatchItem, errorName, notFound, type AwsCallContext } from './errors.js'
import { batchedIds, chunk, isPinned } from './batches.js'
import { BATCH_GET_SECRET_VALUE, GET_SECRET_VALUE, secretRegion } from './grant.js'
import type { SecretsManagerWire } from './wire.js'

export interface SecretsDeps {
  /** Secrets Manager's wire in one region (memoised by the provider): a full ARN is read in its own region */
  wireFor: (region: string) => SecretsManagerWire
  /** the endpoint host a region's calls go to, for error messages */
  endpointFor?: (region: string) => string
  region: string
  profile?: string
  log: Logger
  /**
   * shared across one startup: once the batch call is denied (or the endpoint does not serve it),
   * every chunk reads singly
   */
  batch: { denied: boolean, unsupported?: boolean }
  /** reads already sent while the identity was being proved (see `prefetchAwsReads`): each is used once, as its call's first attempt */
  early?: EarlyReads
}

/** The first attempts of a startup's reads, sent beside STS GetCallerIdentity, by `readKey`. */
export class EarlyReads {
  private readonly sent = new Map<string, Promise<unknown>>()

  add (key: string, read: Promise<unknown>): void {
    // a read nobody takes (STS failed, the batch proved denied) must not be an unhandled rejection
    read.catch(() => {})
    this.sent.set(key, read)
  }

  take<T>(key: string): Promise<T> | undefined {
    const read = this.sent.get(key)
    this.sent.delete(key)
    return read as Promise<T> | undefined
  }

  get size (): number {
    return this.sent.size
  }
}

const batchKey = (ids: readonly string[]): string => `batch\u0000${ids.join('\u0000')}`
const singleKey = (f: Fetch): string => `single\u0000${f.key}`

/** attempts of one BatchGetSecretValue call that answers 5xx before the chunk falls back to single reads */
export const BATCH_SERVER_ATTEMPTS = 3
/** what an endpoint without BatchGetSecretValue (older implementations, some proxies) answers */
const UNKNOWN_OPERATION_NAMES = new Set(['UnknownOperationException', 'UnknownOperation', 'InvalidAction', 'UnsupportedOperation', 'UnsupportedOperationException', 'NotImplemented', 'NotImplementedException'])

/** One secret as read from the store: several aliases may share it (e.g. different #keys). */
interface Fetch {
  key: string
  id: string
  /** the region it is read from: a full ARN's own, else the provider's */
  region: string
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
  const { all, singles, chunks } = planReads(refs, deps.region)
  const results = new Map<string, SecretOutcome>()
  const settle = (f: Fetch, outcome: SecretOutcome): void => { results.set(f.key, outcome) }
  const callContext = (f: Fetch | undefined, action: string, region = f?.region ?? deps.region): AwsCallContext => ({
    refs,
    identity: { ...ctx.identity, region },
    action,
    secret: f?.id,
    version: f?.version,
    stage: f?.stage,
    profile: deps.profile,
    service: 'Secrets Manager',
    endpoint: deps.endpointFor?.(region)
  })

  const single = async (f: Fetch): Promise<void> => {
    const started = performance.now()
    const pin = f.version !== undefined ? ` version ${f.version}` : f.stage !== undefined ? ` stage ${f.stage}` : ''
    const early = deps.early?.take<SecretsManagerSdk.GetSecretValueCommandOutput>(singleKey(f))
    try {
      const out = await ctx.retry(`secret ${aliasesOf(f.refs)} (GetSecretValue ${f.id}${pin})`, async (signal, n) =>
        n === 0 && early !== undefined ? await early : await sendSingle(deps, f, signal),
      (err) => classifyAwsError(err, callContext(f, GET_SECRET_VALUE)))
      settle(f, outcomeOf(out, f, callContext(f, GET_SECRET_VALUE), f.region, performance.now() - started))
    } catch (err) {
      if (isDeadlineError(err)) throw err
      settle(f, { ok: false, error: classifyAwsError(err, callContext(f, GET_SECRET_VALUE)) })
    }
  }

  /** One BatchGetSecretValue call; returns what must still be read singly. */
  const batch = async (group: Fetch[]): Promise<Fetch[]> => {
    if (deps.batch.denied || deps.batch.unsupported === true) return group
    const started = performance.now()
    const region = group[0].region
    const byId = new Map(group.map((f) => [f.id, f]))
    const batchContext = { ...callContext(undefined, BATCH_GET_SECRET_VALUE, region), batch: [...byId.keys()] }
    const early = deps.early?.take<SecretsManagerSdk.BatchGetSecretValueCommandOutput>(batchKey([...byId.keys()]))
    let out: SecretsManagerSdk.BatchGetSecretValueCommandOutput
    try {
      out = await ctx.retry(`secrets ${aliasesOf(group.flatMap((f) => f.refs))} (BatchGetSecretValue, ${group.length} ids${region !== deps.region ? `, region ${region}` : ''})`, async (signal, n) => {
        try {
          return n === 0 && early !== undefined ? await early : await sendBatch(deps, group, signal)
        } catch (err) {
          // a batch that keeps answering 5xx (e.g. an HTML error page from an endpoint that does
          // not serve it) must leave the deadline to the single reads
          if (n + 1 >= BATCH_SERVER_ATTEMPTS && classifyAwsError(err, batchContext).kind === 'UNAVAILABLE' && isServerAnswer(err)) throw new BatchUnsupported(err)
          throw err
        }
      }, (err) => err instanceof BatchUnsupported ? new CloudSecretsError('UNAVAILABLE', 'BatchGetSecretValue kept failing', { provider: 'aws', cause: err }) : classifyAwsError(err, batchContext))
    } catch (err) {
      if (isDeadlineError(err)) throw err
      const error = classifyAwsError(err, batchContext)
      if (error.kind === 'ACCESS_DENIED' && error.permission === BATCH_GET_SECRET_VALUE) {
        if (!deps.batch.denied) {
          deps.batch.denied = true
          deps.log.info({ principal: ctx.identity.principal, permission: BATCH_GET_SECRET_VALUE }, '%s is not allowed for %s; reading each secret with its own GetSecretValue call instead (grant it to need one call per 20 secrets)', BATCH_GET_SECRET_VALUE, ctx.identity.principal ?? 'this identity')
        }
        return group
      }
      const gaveUp = error.cause instanceof BatchUnsupported
      const cause = gaveUp ? (error.cause as BatchUnsupported).original : error.cause
      if (gaveUp || UNKNOWN_OPERATION_NAMES.has(errorName(cause))) {
        // only the first chunk ever gets here: the others wait for it (see below)
        deps.batch.unsupported = true
        deps.log.info({ endpoint: batchContext.endpoint, error: errorName(cause) }, '%s is not served by %s (%s); reading each secret with its own GetSecretValue call instead', BATCH_GET_SECRET_VALUE, batchContext.endpoint ?? 'the Secrets Manager endpoint', errorName(cause))
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
      settle(f, outcomeOf(value, f, callContext(f, GET_SECRET_VALUE), f.region, ms))
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

  const runChunk = async (group: Fetch[]): Promise<void> => {
    const rest = await ctx.limit(async () => await batch(group))
    await Promise.all(rest.map(async (f) => { await ctx.limit(async () => { await single(f) }) }))
  }
  const readSingles = Promise.all(singles.map(async (f) => { await ctx.limit(async () => { await single(f) }) }))
  // the first chunk alone tells whether the batch call is allowed and served: a denial or an
  // endpoint without it is learned once, and the other chunks go straight to single reads
  const [first, ...others] = chunks
  const readChunks = (async () => {
    if (first === undefined) return
    await runChunk(first)
    await Promise.all(others.map(runChunk))
  })()
  await Promise.all([readSingles, readChunks])

  const outcomes = new Map<string, SecretOutcome>()
  for (const f of all) {
    const outcome = results.get(f.key) as SecretOutcome
    for (const ref of f.refs) outcomes.set(ref.alias, outcome)
  }
  return outcomes
}

/**
 * The calls one startup makes first, the same for the early reads and the load: unpinned secrets
 * in chunks of 20 per region (a full ARN is read in its own region), pinned ones and lone ids
 * singly.
 */
function planReads (refs: readonly SecretReference[], region: string): { all: Fetch[], singles: Fetch[], chunks: Fetch[][] } {
  const fetches = new Map<string, Fetch>()
  for (const ref of refs) {
    const key = fetchKey(ref)
    const f = fetches.get(key) ?? { key, id: ref.id, region: secretRegion(ref.id, region) ?? region, version: ref.version, stage: ref.stage, refs: [] }
    f.refs.push(ref)
    fetches.set(key, f)
  }
  const all = [...fetches.values()]
  const batched = new Set(batchedIds(refs))
  const singles = all.filter((f) => isPinned(f) || !batched.has(f.id))
  const byRegion = new Map<string, Fetch[]>()
  for (const f of all.filter((f) => !isPinned(f) && batched.has(f.id))) byRegion.set(f.region, [...(byRegion.get(f.region) ?? []), f])
  return { all, singles, chunks: [...byRegion.values()].flatMap((list) => chunk(list)) }
}

/** How many calls the first round of reads makes in the provider's own region (connections worth warming). */
export function firstRoundCalls (refs: readonly SecretReference[], region: string): number {
  const { singles, chunks } = planReads(refs, region)
  return [...singles, ...chunks.map((c) => c[0])].filter((f) => f.region === region).length
}

type EarlyDeps = Pick<SecretsDeps, 'wireFor' | 'region' | 'batch'>

/**
 * Sends the first round of reads in the provider's own region now, before the identity report is
 * complete (beside STS GetCallerIdentity): with the credentials in hand nothing else is waited
 * for. The load then takes each answer as its call's first attempt and classifies it as usual,
 * so a failure keeps its own code; when the identity proof fails, the answers are dropped.
 */
export function prefetchAwsReads (refs: readonly SecretReference[], deps: EarlyDeps, signal: AbortSignal): EarlyReads {
  const early = new EarlyReads()
  const { singles, chunks } = planReads(refs, deps.region)
  for (const f of singles) if (f.region === deps.region) early.add(singleKey(f), sendSingle(deps, f, signal))
  if (!deps.batch.denied && deps.batch.unsupported !== true) {
    for (const group of chunks) if (group[0].region === deps.region) early.add(batchKey(group.map((f) => f.id)), sendBatch(deps, group, signal))
  }
  return early
}

async function sendSingle (deps: Pick<SecretsDeps, 'wireFor'>, f: Fetch, signal: AbortSignal): Promise<SecretsManagerSdk.GetSecretValueCommandOutput> {
  return await deps.wireFor(f.region).call('GetSecretValue', { SecretId: f.id, VersionId: f.version, VersionStage: f.stage }, signal) as unknown as SecretsManagerSdk.GetSecretValueCommandOutput
}

async function sendBatch (deps: Pick<SecretsDeps, 'wireFor'>, group: readonly Fetch[], signal: AbortSignal): Promise<SecretsManagerSdk.BatchGetSecretValueCommandOutput> {
  return await deps.wireFor(group[0].region).call('BatchGetSecretValue', { SecretIdList: group.map((f) => f.id) }, signal) as unknown as SecretsManagerSdk.BatchGetSecretValueCommandOutput
}

/** A batch call that kept answering 5xx: the chunk is read with single calls instead. */
class BatchUnsupported extends Error {
  constructor (readonly original: unknown) {
    super('BatchGetSecretValue kept failing with server errors')
    this.name = 'BatchUnsupported'
  }
}

/** the service answered (5xx), as opposed to a network failure that single reads would meet too */
function isServerAnswer (err: unknown): boolean {
  const e = err as { $metadata?: { httpStatusCode?: number }, $fault?: string, $response?: { statusCode?: number } } | undefined
  const status = e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode
  return (status !== undefined && status >= 500) || e?.$fault === 'server'
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
