import type { SecretReference } from '../../reference.js'
import type { Identity } from '../../types.js'
import type { GrantDocument } from '../types.js'

/** The predefined role that holds secretmanager.versions.access and nothing more. */
export const SECRET_ACCESSOR_ROLE = 'roles/secretmanager.secretAccessor'
export const ACCESS_PERMISSION = 'secretmanager.versions.access'

/** A Secret Manager secret, without its version. */
export interface SecretLocation {
  project: string
  /** set for regional secrets (projects/P/locations/L/secrets/S) */
  location?: string
  secret: string
}

/** An IAM member and, when it had to be guessed, how to find the real value. */
export interface IamMember {
  /** serviceAccount:EMAIL, user:EMAIL, principal://…, or a placeholder such as serviceAccount:SERVICE_ACCOUNT_EMAIL */
  member: string
  /** true when `member` is a placeholder the user must replace */
  placeholder: boolean
  /** how to find the value of the placeholder */
  hint?: string
}

const SERVICE_ACCOUNT_EMAIL = /^[^@\s]+@[^@\s]+\.gserviceaccount\.com$/

/** The IAM member for the identity the app runs as. */
export function iamMember (identity: Pick<Identity, 'principal' | 'source'>): IamMember {
  const principal = identity.principal
  if (principal !== undefined && principal.length > 0) {
    if (principal.startsWith('principal://') || principal.startsWith('principalSet://')) return { member: principal, placeholder: false }
    if (SERVICE_ACCOUNT_EMAIL.test(principal)) return { member: `serviceAccount:${principal}`, placeholder: false }
    if (principal.includes('@')) return { member: `user:${principal}`, placeholder: false }
  }
  switch (identity.source) {
    case 'gcp:authorized-user':
      return { member: 'user:YOUR_EMAIL', placeholder: true, hint: 'the account you ran `gcloud auth application-default login` with; `gcloud config get-value account` prints it' }
    case 'gcp:external-account':
      return {
        member: 'principal://iam.googleapis.com/projects/PROJECT_NUMBER/locations/global/workloadIdentityPools/POOL/subject/SUBJECT',
        placeholder: true,
        hint: 'the federated principal of the workload identity pool (or set service_account_impersonation_url in the credential configuration and grant that service account)'
      }
    default:
      return {
        member: 'serviceAccount:SERVICE_ACCOUNT_EMAIL',
        placeholder: true,
        hint: 'the service account the workload runs as, e.g. `gcloud run services describe SERVICE --format="value(spec.template.spec.serviceAccountName)"`'
      }
  }
}

/** Parses projects/P[/locations/L]/secrets/S[/versions/V]. */
export function parseSecretName (name: string): (SecretLocation & { version?: string }) | undefined {
  const m = /^projects\/([^/]+)\/(?:locations\/([^/]+)\/)?secrets\/([^/]+)(?:\/versions\/([^/]+))?$/.exec(name)
  if (m === null) return undefined
  return { project: m[1], location: m[2], secret: m[3], version: m[4] }
}

/** Where a reference points: its full name, or the short id in the default project. */
export function secretLocation (ref: Pick<SecretReference, 'id'>, defaultProject: string | undefined): SecretLocation {
  const parsed = parseSecretName(ref.id)
  if (parsed !== undefined) return { project: parsed.project, location: parsed.location, secret: parsed.secret }
  return { project: defaultProject ?? 'PROJECT_ID', secret: ref.id }
}

function quote (value: string): string {
  return /^[A-Za-z0-9_@.:/=+-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`
}

/** The least-privilege grant on one secret: roles/secretmanager.secretAccessor on that secret only. */
export function secretGrantCommand (where: SecretLocation, member: string): string {
  const location = where.location !== undefined ? ` --location ${quote(where.location)}` : ''
  return `gcloud secrets add-iam-policy-binding ${quote(where.secret)} --project ${quote(where.project)}${location} --member ${quote(member)} --role ${SECRET_ACCESSOR_ROLE}`
}

/** The broader alternative: the role on the whole project (every secret in it). */
export function projectGrantCommand (project: string, member: string): string {
  return `gcloud projects add-iam-policy-binding ${quote(project)} --member ${quote(member)} --role ${SECRET_ACCESSOR_ROLE}`
}

/** The fix text of an ACCESS_DENIED on one secret. */
export function accessDeniedFix (where: SecretLocation, identity: Pick<Identity, 'principal' | 'source'>): string {
  const who = iamMember(identity)
  const lines = [
    `grant ${SECRET_ACCESSOR_ROLE} (permission ${ACCESS_PERMISSION}) on the secret to ${who.member}:`,
    `  ${secretGrantCommand(where, who.member)}`
  ]
  if (who.placeholder && who.hint !== undefined) lines.push(`  (replace ${who.member.replace(/^(user|serviceAccount):/, '')} with ${who.hint})`)
  lines.push(`  or, for every secret of the project: ${projectGrantCommand(where.project, who.member)}`)
  return lines.join('\n')
}

/**
 * The least-privilege grant that lets `identity` read `refs`: one secret-level binding per
 * secret, and the project-level alternative. Pure: no network.
 */
export function grantDocuments (refs: readonly SecretReference[], identity: Pick<Identity, 'principal' | 'source' | 'project'>): GrantDocument[] {
  const who = iamMember(identity)
  const seen = new Set<string>()
  const locations: SecretLocation[] = []
  for (const ref of refs) {
    if (ref.provider !== 'gcp') continue
    const where = secretLocation(ref, identity.project)
    const key = `${where.project}/${where.location ?? ''}/${where.secret}`
    if (seen.has(key)) continue
    seen.add(key)
    locations.push(where)
  }
  if (locations.length === 0) return []
  const note = who.placeholder && who.hint !== undefined ? `# replace ${who.member.replace(/^(user|serviceAccount):/, '')} with ${who.hint}\n` : ''
  const projects = [...new Set(locations.map((l) => l.project))]
  return [
    {
      title: `${SECRET_ACCESSOR_ROLE} on each secret the app reads, for ${who.member}`,
      format: 'sh',
      text: note + locations.map((l) => secretGrantCommand(l, who.member)).join('\n') + '\n'
    },
    {
      title: `Alternative: ${SECRET_ACCESSOR_ROLE} on the whole project${projects.length > 1 ? 's' : ''} (every secret in ${projects.length > 1 ? 'them' : 'it'}), for ${who.member}`,
      format: 'sh',
      text: note + projects.map((p) => projectGrantCommand(p, who.member)).join('\n') + '\n'
    }
  ]
}
