import type { ChildProcess } from 'node:child_process'
import { CloudSecretsError, type CredentialAttempt } from '../../errors.js'
import type { Env } from '../../shared/env.js'
import { networkErrorCode } from '../../retry.js'
import { jwtExpiryMs } from '../../shared/jwt.js'
import type { Identity, Logger } from '../../types.js'
import type { StepContext } from '../types.js'
import { describeCredential, readSubjectClaim } from './credentials/describe.js'
import { findCredential, type FoundCredential } from './credentials/discovery.js'
import type { EarlyMetadata } from './credentials/early-metadata.js'
import { createMetadataCredential } from './credentials/metadata.js'
import { userEmail } from './credentials/tokeninfo.js'
import { classifyTokenError, endpointOf, safeText, sanitizeCause, tokenFix as tokenFixFor } from './errors.js'
import type { AuthClient, GaxModule, GoogleAuth } from './gax.js'
import { detectPlatform } from './platform.js'
import { resolveProjectId } from './project.js'
import type { AuthTransport } from './transport.js'

const SECRET_MANAGER_HOST = 'secretmanager.googleapis.com'

/** the scope every token of the chain is asked for (Secret Manager and most Google APIs accept it) */
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform'

export interface ResolvedGcp {
  identity: Identity
  auth: GoogleAuth
  authClient: AuthClient
  credential: FoundCredential
  projectId?: string
}

export interface ResolveDeps {
  env: Env
  gax: GaxModule
  transport: AuthTransport
  /** config.gcp.projectId (option or GOOGLE_CLOUD_PROJECT / GCLOUD_PROJECT / GCP_PROJECT) */
  configuredProject?: string
  log: Logger
  attempts: CredentialAttempt[]
  /** child processes started (gcloud), so close() can end them */
  children: Set<ChildProcess>
  /** the metadata requests sent before the SDK import (credentials/early-metadata.ts) */
  early?: EarlyMetadata
  /** called with the shared GoogleAuth before any token is requested, so clients built on it (Secret Manager) configure it first */
  onAuth: (auth: GoogleAuth, projectId: string | undefined, kind: FoundCredential['kind']) => void
}

/**
 * Finds the credential, builds the one GoogleAuth shared by every client, proves it yields a
 * token, and reports who we are (source, principal, project, platform, token expiry).
 */
export async function resolveGcpIdentity (deps: ResolveDeps, ctx: StepContext): Promise<ResolvedGcp> {
  const { env, gax, transport } = deps
  const credential = await findCredential({ env, gax, transporter: transport.transporter, attempts: deps.attempts }, ctx)
  const metadataCredential = credential.kind === 'metadata' ? createMetadataCredential(gax, transport.transporter, credential.baseUrl, deps.early) : undefined

  const project = await resolveProjectId(deps, credential, metadataCredential, ctx)
  const auth = new gax.GoogleAuth({
    scopes: [CLOUD_PLATFORM_SCOPE],
    projectId: project?.id,
    ...(credential.kind === 'file' ? { credentials: credential.json as never } : { authClient: metadataCredential }),
    clientOptions: { transporter: transport.transporter }
  })
  deps.onAuth(auth, project?.id, credential.kind)
  const authClient = await auth.getClient()

  const subject = credential.kind === 'file' && credential.source === 'gcp:external-account' ? await readSubjectClaim(credential.json) : undefined
  const describe = describeCredential(credential, subject)
  const tokenStep = credential.kind === 'metadata'
    ? `identity: metadata server ${credential.baseUrl} (service-accounts/default/token)`
    : `identity: ${describe.tokenStep} (${credential.file})`
  const principalFromMetadata = metadataCredential === undefined
    ? Promise.resolve(undefined)
    : ctx.retry(`identity: metadata server ${metadataCredential.baseUrl} (service-accounts/default/email)`, async () => await metadataCredential.metadata('instance/service-accounts/default/email'),
      (err) => classifyTokenError(err, { what: 'the metadata server\'s service account', source: 'gcp:metadata', endpoint: endpointOf(err, `${metadataCredential.baseUrl}/computeMetadata/v1/instance/service-accounts/default/email`) }))
  const selfSigned = credential.source === 'gcp:service-account-key'
  const [selfSignedExpiry, metadataEmail] = await Promise.all([
    ctx.retry(tokenStep, async () => {
      if (!selfSigned) {
        await authClient.getAccessToken()
        return undefined
      }
      // a key signs its own JWTs (what the Secret Manager client sends): proving the key needs
      // no token endpoint; Secret Manager then verifies the signature on the first call
      const headers = await authClient.getRequestHeaders(`https://${SECRET_MANAGER_HOST}/`)
      return jwtExpiry(headers.get('authorization'))
    }, (err) => selfSigned && networkErrorCode(err) === undefined
      ? new CloudSecretsError('TOKEN', `the service-account key ${credential.kind === 'file' ? credential.file : ''} cannot sign a JWT: ${safeText(err)}`, { provider: 'gcp', principal: describe.principal, cause: sanitizeCause(err), fix: tokenFixFor(credential.source) })
      : classifyTokenError(err, {
        what: describe.what,
        source: credential.source,
        principal: describe.principal,
        endpoint: endpointOf(err, describe.endpoint)
      })),
    principalFromMetadata
  ])
  const winner = deps.attempts.findIndex((a) => a.outcome === 'ok')
  if (winner !== -1) deps.attempts[winner] = { ...deps.attempts[winner], reason: `${deps.attempts[winner].reason}; ${selfSigned ? 'self-signed JWT' : 'token'} obtained` }

  let principal = describe.principal ?? metadataEmail
  if (credential.source === 'gcp:authorized-user') principal = await userEmail(authClient, ctx, deps.log)

  const expiry = selfSignedExpiry ?? metadataCredential?.expiresAt ?? (authClient as { credentials?: { expiry_date?: number | null } }).credentials?.expiry_date ?? undefined
  const { platform, details } = detectPlatform(env, credential.kind === 'metadata')
  const identity: Identity = {
    provider: 'gcp',
    platform,
    source: credential.source,
    principal,
    project: project?.id,
    expiresAt: typeof expiry === 'number' && expiry > 0 ? new Date(expiry).toISOString() : undefined,
    details: {
      ...details,
      credentialFile: credential.kind === 'file' ? credential.file : undefined,
      credentialFrom: credential.kind === 'file' ? credential.via : credential.detectedBy,
      metadataServer: credential.kind === 'metadata' ? credential.baseUrl : undefined,
      projectFrom: project?.from,
      federatedPrincipal: describe.federatedPrincipal,
      impersonated: describe.impersonated ? true : undefined
    }
  }
  return { identity, auth, authClient, credential, projectId: project?.id }
}

/** The `exp` of a bearer JWT, in ms (decoded, not verified); the token itself is not kept. */
function jwtExpiry (authorization: string | null): number | undefined {
  return jwtExpiryMs(authorization?.replace(/^Bearer /, ''))
}
