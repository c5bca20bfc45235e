import { readFile } from 'node:fs/promises'
import { stringClaim } from '../../../shared/jwt.js'
import type { FoundCredential } from './discovery.js'
import type { CredentialJson } from './files.js'

export interface CredentialDescription {
  /** the principal known from the file alone */
  principal?: string
  federatedPrincipal?: string
  impersonated: boolean
  /** for messages: "service-account key /k.json (app@…)" */
  what: string
  tokenStep: string
  endpoint: string
}

/** What a credential is, for the identity report and messages: its principal (when the file names one), the token step and endpoint. */
export function describeCredential (credential: FoundCredential, subject: string | undefined): CredentialDescription {
  if (credential.kind === 'metadata') {
    return { what: `the metadata server's service account (${credential.baseUrl})`, tokenStep: 'metadata token', endpoint: `${credential.baseUrl}/computeMetadata/v1/instance/service-accounts/default/token`, impersonated: false }
  }
  const { json, file } = credential
  const impersonationTarget = typeof json.service_account_impersonation_url === 'string'
    ? /\/serviceAccounts\/([^/:]+):generateAccessToken$/.exec(json.service_account_impersonation_url)?.[1]
    : undefined
  const target = impersonationTarget !== undefined ? decodeURIComponent(impersonationTarget) : undefined
  switch (credential.source) {
    case 'gcp:service-account-key':
      return { principal: json.client_email, what: `service-account key ${file} (${json.client_email ?? 'no client_email'})`, tokenStep: `self-signed JWT for ${json.client_email ?? 'service account'}`, endpoint: 'https://oauth2.googleapis.com/token', impersonated: false }
    case 'gcp:authorized-user':
      return { what: `the gcloud application-default login in ${file}`, tokenStep: 'token refresh at oauth2.googleapis.com', endpoint: 'https://oauth2.googleapis.com/token', impersonated: false }
    case 'gcp:impersonated-service-account':
      return { principal: target, what: `impersonation of ${target ?? 'a service account'} configured in ${file}`, tokenStep: `token for ${target ?? 'service account'} from iamcredentials.googleapis.com`, endpoint: json.service_account_impersonation_url ?? 'https://iamcredentials.googleapis.com', impersonated: true }
    case 'gcp:external-account': {
      const federated = federatedPrincipal(json, subject)
      const sts = typeof json.token_url === 'string' ? json.token_url : 'https://sts.googleapis.com/v1/token'
      return {
        principal: target ?? federated,
        federatedPrincipal: federated,
        impersonated: target !== undefined,
        what: target !== undefined ? `workload identity federation (${file}) impersonating ${target}` : `workload identity federation (${file})`,
        tokenStep: `token exchange at ${hostOf(sts)}${target !== undefined ? ` + impersonation of ${target}` : ''}`,
        endpoint: sts
      }
    }
  }
}

/** principal://iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/POOL/subject/SUB, from the audience and the subject token's `sub`. */
function federatedPrincipal (json: CredentialJson, subject: string | undefined): string | undefined {
  const pool = typeof json.audience === 'string' ? /^\/\/iam\.googleapis\.com\/(projects\/[^/]+\/locations\/[^/]+\/workloadIdentityPools\/[^/]+)\//.exec(json.audience)?.[1] : undefined
  return pool === undefined ? undefined : `principal://iam.googleapis.com/${pool}/subject/${subject ?? 'SUBJECT'}`
}

/** The `sub` claim of a file-sourced OIDC subject token (decoded, not verified: for reporting only). */
export async function readSubjectClaim (json: CredentialJson): Promise<string | undefined> {
  const source = json.credential_source
  if (typeof source?.file !== 'string') return undefined
  try {
    const text = (await readFile(source.file, 'utf8')).trim()
    const field = (source as { format?: { type?: string, subject_token_field_name?: string } }).format
    const token = field?.type === 'json' ? String((JSON.parse(text) as Record<string, unknown>)[field.subject_token_field_name ?? ''] ?? '') : text
    const sub = stringClaim(token, 'sub')
    return sub !== undefined && /^[\x21-\x7e]{1,256}$/.test(sub) ? sub : undefined
  } catch {
    return undefined
  }
}

function hostOf (url: string): string {
  try { return new URL(url).host } catch { return url }
}
