import { CloudSecretsError, isDeadlineError, configError, type CredentialAttempt } from '../../../errors.js'
import type { Env } from '../../../shared/env.js'
import type { StepContext } from '../../types.js'
import { LOGIN_FIX, safeText } from '../errors.js'
import type { GaxModule, Gaxios } from '../gax.js'
import { metadataBaseUrl, SERVERLESS_MARKERS } from '../platform.js'
import { readCredentialFile, wellKnownCredentialFile, type CredentialJson, type FileSource } from './files.js'

/** how long the metadata-server probe may take when no platform marker says we are on Google Cloud */
const METADATA_PING_MS = 3000

export type GcpSource = FileSource | 'gcp:metadata'

export type FoundCredential =
  | { kind: 'file', source: FileSource, file: string, via: string, json: CredentialJson }
  | { kind: 'metadata', source: 'gcp:metadata', baseUrl: string, detectedBy: string }

export interface FindCredentialDeps {
  env: Env
  gax: GaxModule
  transporter: Gaxios
  attempts: CredentialAttempt[]
}

/**
 * Application Default Credentials, in google-auth-library's order, detected once:
 * GOOGLE_APPLICATION_CREDENTIALS → gcloud's application-default file → the metadata server.
 */
export async function findCredential (deps: FindCredentialDeps, ctx: StepContext): Promise<FoundCredential> {
  const { env, attempts } = deps
  const noCredentials = (summary: string, fix = LOGIN_FIX): CloudSecretsError =>
    new CloudSecretsError('NO_CREDENTIALS', `${summary}\nCredential sources tried:\n${attempts.map((a) => `  - ${a.source}: ${a.outcome} (${a.reason})`).join('\n')}`, { provider: 'gcp', attempts: [...attempts], fix })

  const explicit = env.GOOGLE_APPLICATION_CREDENTIALS
  if (explicit !== undefined && explicit !== '') {
    const read = await readCredentialFile(explicit)
    if (!read.ok) {
      attempts.push({ source: 'GOOGLE_APPLICATION_CREDENTIALS', outcome: 'failed', reason: read.reason })
      // like google-auth-library: a set but unusable GOOGLE_APPLICATION_CREDENTIALS is an error, not a fall-through
      throw noCredentials(`GOOGLE_APPLICATION_CREDENTIALS is set but unusable: ${read.reason}`, 'point GOOGLE_APPLICATION_CREDENTIALS at a readable service-account key or workload identity federation configuration file, or unset it to use gcloud\'s login or the metadata server')
    }
    attempts.push({ source: 'GOOGLE_APPLICATION_CREDENTIALS', outcome: 'ok', reason: `${read.json.type ?? ''} credentials in ${explicit}` })
    return { kind: 'file', source: read.source, file: explicit, via: 'GOOGLE_APPLICATION_CREDENTIALS', json: read.json }
  }
  attempts.push({ source: 'GOOGLE_APPLICATION_CREDENTIALS', outcome: 'skipped', reason: 'not set' })

  const wellKnown = wellKnownCredentialFile(env)
  const read = await readCredentialFile(wellKnown)
  if (read.ok) {
    attempts.push({ source: 'gcloud application-default credentials', outcome: 'ok', reason: `${read.json.type ?? ''} credentials in ${wellKnown}` })
    return { kind: 'file', source: read.source, file: wellKnown, via: 'gcloud application-default credentials file', json: read.json }
  }
  if (!read.missing) {
    attempts.push({ source: 'gcloud application-default credentials', outcome: 'failed', reason: read.reason })
    throw noCredentials(`the gcloud application-default credentials file is unusable: ${read.reason}`, 'run `gcloud auth application-default login` again (or delete the file)')
  }
  attempts.push({ source: 'gcloud application-default credentials', outcome: 'skipped', reason: `no file at ${wellKnown}` })

  const baseUrl = metadataBaseUrl(env)
  const marker = SERVERLESS_MARKERS.find((name) => env[name] !== undefined && env[name] !== '')
  if (marker !== undefined) {
    attempts.push({ source: 'metadata server', outcome: 'ok', reason: `${marker} is set: using ${baseUrl}` })
    return { kind: 'metadata', source: 'gcp:metadata', baseUrl, detectedBy: `${marker} is set` }
  }
  const residency = deps.gax.googleAuthLibrary.gcpMetadata.isGoogleComputeEngine()
  if (residency) {
    attempts.push({ source: 'metadata server', outcome: 'ok', reason: `Google Compute Engine BIOS / MAC address: using ${baseUrl}` })
    return { kind: 'metadata', source: 'gcp:metadata', baseUrl, detectedBy: 'Google Compute Engine BIOS / MAC address' }
  }
  const mode = (env.METADATA_SERVER_DETECTION ?? '').trim().toLowerCase()
  switch (mode) {
    case 'assume-present':
      attempts.push({ source: 'metadata server', outcome: 'ok', reason: `METADATA_SERVER_DETECTION=assume-present: using ${baseUrl}` })
      return { kind: 'metadata', source: 'gcp:metadata', baseUrl, detectedBy: 'METADATA_SERVER_DETECTION=assume-present' }
    case 'none':
    case 'bios-only':
      attempts.push({ source: 'metadata server', outcome: 'skipped', reason: mode === 'none' ? 'METADATA_SERVER_DETECTION=none' : 'METADATA_SERVER_DETECTION=bios-only and no Google BIOS' })
      break
    case '':
    case 'ping-only': {
      const reason = await pingMetadata(deps, baseUrl, ctx)
      if (reason === undefined) {
        attempts.push({ source: 'metadata server', outcome: 'ok', reason: `${baseUrl} answered` })
        return { kind: 'metadata', source: 'gcp:metadata', baseUrl, detectedBy: `${baseUrl} answered` }
      }
      attempts.push({ source: 'metadata server', outcome: 'failed', reason })
      break
    }
    default:
      throw configError([{ source: 'METADATA_SERVER_DETECTION', message: `"${safeText(mode)}" is not one of none, assume-present, bios-only, ping-only` }])
  }
  throw noCredentials('no Google Cloud credentials were found (Application Default Credentials)')
}

/** One bounded probe of the metadata server; undefined when it answered as one. */
async function pingMetadata (deps: FindCredentialDeps, baseUrl: string, ctx: StepContext): Promise<string | undefined> {
  const bound = Math.min(METADATA_PING_MS, ctx.deadline.remaining())
  try {
    await ctx.deadline.run(`identity: metadata server probe ${baseUrl}`, async (signal) => {
      const res = await deps.transporter.request<string>({
        url: `${baseUrl}/computeMetadata/v1/instance`,
        headers: { 'Metadata-Flavor': 'Google' },
        responseType: 'text',
        timeout: bound,
        signal
      })
      if (res.headers.get('metadata-flavor') !== 'Google') throw new Error('the answer has no Metadata-Flavor: Google header')
    })
    return undefined
  } catch (err) {
    if (isDeadlineError(err)) throw err
    const name = (err as Error).name
    return name === 'AbortError' || name === 'TimeoutError' || /aborted|timeout/i.test((err as Error).message)
      ? `no answer from ${baseUrl} within ${bound} ms`
      : `${baseUrl} did not answer as a metadata server: ${safeText(err)}`
  }
}
