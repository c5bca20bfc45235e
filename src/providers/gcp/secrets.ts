import { performance } from 'node:perf_hooks'
import { CloudSecretsError, isDeadlineError } from '../../errors.js'
import type { SecretReference } from '../../reference.js'
import type { Identity } from '../../types.js'
import type { LoadContext, SecretOutcome } from '../types.js'
import { classifySecretError, sanitizeCause } from './errors.js'
import { parseSecretName, type SecretLocation } from './grant.js'
import type { SecretReader } from './reader.js'

/** CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum Secret Manager sends as payload.dataCrc32c. */
const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    table[n] = c >>> 0
  }
  return table
})()

export function crc32c (data: Uint8Array): number {
  let crc = 0xffffffff
  for (let i = 0; i < data.length; i++) crc = CRC32C_TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

/** The regional endpoint that serves projects/P/locations/L/secrets/S. */
export function regionalEndpoint (location: string): string {
  return `secretmanager.${location}.rep.googleapis.com`
}

export const GLOBAL_ENDPOINT = 'secretmanager.googleapis.com'

export interface SecretTarget {
  /** projects/P[/locations/L]/secrets/S/versions/V */
  name: string
  where: SecretLocation
  version: string
  endpoint: string
}

/** Where a reference points, or why it cannot be resolved (a short id without a default project). */
export function secretTarget (ref: SecretReference, projectId: string | undefined): SecretTarget | CloudSecretsError {
  const version = ref.version ?? 'latest'
  const parsed = parseSecretName(ref.id)
  let where: SecretLocation
  if (parsed !== undefined) {
    where = { project: parsed.project, location: parsed.location, secret: parsed.secret }
  } else if (projectId !== undefined) {
    where = { project: projectId, secret: ref.id }
  } else {
    return new CloudSecretsError('CONFIG', `secret id "${ref.id}" is short, and no default GCP project is known`, {
      provider: 'gcp',
      alias: ref.alias,
      secret: ref.id,
      fix: `set GOOGLE_CLOUD_PROJECT (or options.gcp.projectId), or use the full name projects/PROJECT_ID/secrets/${ref.id}`
    })
  }
  const base = where.location !== undefined ? `projects/${where.project}/locations/${where.location}/secrets/${where.secret}` : `projects/${where.project}/secrets/${where.secret}`
  return { name: `${base}/versions/${version}`, where, version, endpoint: where.location !== undefined ? regionalEndpoint(where.location) : GLOBAL_ENDPOINT }
}

export interface SecretsDeps {
  projectId?: string
  identity: Identity
  /** AccessSecretVersion over one gRPC channel per endpoint (reader.ts) */
  reader: SecretReader
}

/**
 * Reads every reference with AccessSecretVersion: one call per distinct version name, bounded
 * concurrency, the plugin's retry (the SDK's own retry is off) and the payload's CRC32C checked.
 */
export async function loadGcpSecrets (refs: readonly SecretReference[], ctx: LoadContext, deps: SecretsDeps): Promise<Map<string, SecretOutcome>> {
  const outcomes = new Map<string, SecretOutcome>()
  const calls = new Map<string, Promise<SecretOutcome>>()
  await Promise.all(refs.map(async (ref) => {
    const target = secretTarget(ref, deps.projectId)
    if (target instanceof CloudSecretsError) {
      outcomes.set(ref.alias, { ok: false, error: target })
      return
    }
    let call = calls.get(target.name)
    if (call === undefined) {
      call = ctx.limit(async () => await fetchSecret(ref.alias, target, ctx, deps))
      calls.set(target.name, call)
    }
    const outcome = await call
    outcomes.set(ref.alias, outcome.ok ? outcome : { ok: false, error: outcome.error.forAlias(ref.alias, target.name) })
  }))
  return outcomes
}

/** how long a call's own gRPC deadline outlasts the startup deadline (see fetchSecret) */
const CALL_GRACE_MS = 250

async function fetchSecret (alias: string, target: SecretTarget, ctx: LoadContext, deps: SecretsDeps): Promise<SecretOutcome> {
  const started = performance.now()
  const errorContext = { alias, name: target.name, where: target.where, version: target.version, identity: deps.identity, endpoint: target.endpoint }
  try {
    const response = await ctx.retry(`secret "${alias}" (AccessSecretVersion ${target.name})`, async () => {
      // one attempt per call (the plugin retries), bounded by what is left of the startup deadline.
      // A little past it (CALL_GRACE_MS), so the startup deadline fires first and a hung store is
      // reported as the TIMEOUT it is, never as whichever of the two timers a busy event loop ran first
      const timeout = Math.max(1, Math.floor(ctx.deadline.remaining()) + CALL_GRACE_MS)
      return await deps.reader.access(target.endpoint, target.name, timeout)
    }, (err) => classifySecretError(err, errorContext))
    const data = response.payload?.data ?? new Uint8Array(0)
    const expected = response.payload?.dataCrc32c
    if (expected !== undefined && expected !== String(crc32c(data))) {
      return {
        ok: false,
        error: new CloudSecretsError('INTEGRITY', `the payload of ${response.name ?? target.name} failed its CRC32C check (the data was corrupted between Secret Manager and this process)`, {
          provider: 'gcp',
          alias,
          secret: target.name,
          principal: deps.identity.principal,
          fix: `start again; if it persists, add a new version of the secret (gcloud secrets versions add ${target.where.secret} --project ${target.where.project}${target.where.location !== undefined ? ` --location ${target.where.location}` : ''} --data-file=FILE) and report it to Google Cloud support`
        })
      }
    }
    const version = /\/versions\/([^/]+)$/.exec(response.name ?? '')?.[1] ?? target.version
    return { ok: true, value: Buffer.from(data).toString('utf8'), version, store: target.endpoint, ms: performance.now() - started }
  } catch (err) {
    if (err instanceof CloudSecretsError) {
      if (isDeadlineError(err)) throw err
      return { ok: false, error: err }
    }
    return { ok: false, error: classifySecretError(sanitizeCause(err), errorContext) }
  }
}
