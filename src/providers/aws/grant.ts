import type { SecretReference } from '../../reference.js'
import type { Identity } from '../../types.js'
import type { GrantDocument } from '../types.js'
import { batchedIds } from './batches.js'

// Pure builders of the least-privilege IAM grant for a set of AWS references. No SDK, no
// network: ACCESS_DENIED messages use them, and so can a `policy`/`doctor` command.

export const GET_SECRET_VALUE = 'secretsmanager:GetSecretValue'
export const BATCH_GET_SECRET_VALUE = 'secretsmanager:BatchGetSecretValue'
export const KMS_DECRYPT = 'kms:Decrypt'

export interface IamStatement {
  Sid: string
  Effect: 'Allow'
  Action: string
  Resource: string | string[]
  Condition?: Record<string, Record<string, string>>
}

export interface IamPolicy {
  Version: '2012-10-17'
  Statement: IamStatement[]
}

export interface GrantTarget {
  /** region of secrets given by name */
  region?: string
  /** account of secrets given by name; a placeholder when unknown */
  account?: string
  /** aws, aws-cn, aws-us-gov… */
  partition?: string
  /** KMS keys (ARN or id) the secrets are encrypted with, when a decrypt failed */
  kmsKeys?: readonly string[]
}

const ARN = /^arn:([a-z-]+):secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$/
/** the six random characters Secrets Manager appends to a secret's name in its ARN */
const ARN_SUFFIX = /-[A-Za-z0-9]{6}$/

/** Parses a principal or secret ARN into partition / region / account. */
export function parseArn (arn: string | undefined): { partition: string, service: string, region: string, account: string, resource: string } | undefined {
  if (arn === undefined) return undefined
  const m = /^arn:([a-z-]+):([a-z0-9-]+):([a-z0-9-]*):(\d{12}|aws)?:(.+)$/.exec(arn)
  if (m === null) return undefined
  return { partition: m[1], service: m[2], region: m[3], account: m[4] ?? '', resource: m[5] }
}

/**
 * The IAM resource for one secret. A name becomes `…:secret:NAME-??????` (the ARN of a secret
 * ends with `-` and six random characters; `??????` matches exactly those, so `prod/db` does not
 * also grant `prod/db-admin`). A full ARN is kept; a partial ARN (no suffix) gets the pattern.
 */
export function secretResourceArn (id: string, target: GrantTarget = {}): string {
  const m = ARN.exec(id)
  if (m !== null) return ARN_SUFFIX.test(m[4]) ? id : `${id}-??????`
  const partition = target.partition ?? 'aws'
  const region = target.region ?? 'REGION'
  const account = target.account ?? 'ACCOUNT_ID'
  return `arn:${partition}:secretsmanager:${region}:${account}:secret:${id}-??????`
}

/** The region a reference is read from: the ARN's, or the provider's. */
export function secretRegion (id: string, region: string | undefined): string | undefined {
  return ARN.exec(id)?.[2] ?? region
}

/** The IAM policy that lets a principal read exactly `refs` (and nothing else). */
export function secretsPolicy (refs: readonly SecretReference[], target: GrantTarget = {}): IamPolicy {
  const aws = refs.filter((r) => r.provider === 'aws')
  const resources = [...new Set(aws.map((r) => secretResourceArn(r.id, target)))].sort()
  const statements: IamStatement[] = []
  if (resources.length > 0) {
    statements.push({ Sid: 'ReadConfiguredSecrets', Effect: 'Allow', Action: GET_SECRET_VALUE, Resource: resources.length === 1 ? resources[0] : resources })
  }
  if (batchedIds(aws).length > 0) {
    // BatchGetSecretValue has no resource-level permission: IAM only accepts "*" for it, and
    // every secret in the batch is still checked against GetSecretValue above.
    statements.push({ Sid: 'BatchReadConfiguredSecrets', Effect: 'Allow', Action: BATCH_GET_SECRET_VALUE, Resource: '*' })
  }
  for (const key of target.kmsKeys ?? []) {
    statements.push(kmsDecryptStatement(key, target))
  }
  return { Version: '2012-10-17', Statement: statements }
}

/** kms:Decrypt on one key, only when Secrets Manager asks for it. */
export function kmsDecryptStatement (key: string, target: GrantTarget = {}): IamStatement {
  const region = parseArn(key)?.region ?? target.region ?? 'REGION'
  const resource = key.startsWith('arn:') ? key : `arn:${target.partition ?? 'aws'}:kms:${region}:${target.account ?? 'ACCOUNT_ID'}:key/${key}`
  return {
    Sid: 'DecryptSecretsKey',
    Effect: 'Allow',
    Action: KMS_DECRYPT,
    Resource: resource,
    Condition: { StringEquals: { 'kms:ViaService': `secretsmanager.${region}.amazonaws.com` } }
  }
}

/** What IAM identity to attach a policy to, from an STS caller ARN. */
export function policyHolder (principal: string | undefined): { kind: 'role' | 'user', name: string } | undefined {
  const resource = parseArn(principal)?.resource
  if (resource === undefined) return undefined
  const parts = resource.split('/')
  // assumed-role/ROLE/SESSION, role/PATH/ROLE, user/PATH/NAME
  if (parts[0] === 'assumed-role' && parts.length >= 2) return { kind: 'role', name: parts[1] }
  if ((parts[0] === 'role' || parts[0] === 'user') && parts.length >= 2) return { kind: parts[0], name: parts[parts.length - 1] }
  return undefined
}

/** The aws CLI command that attaches `policyFile` inline to the principal's role or user. */
export function attachPolicyCommand (principal: string | undefined, policyName = 'fastify-cloud-secrets', policyFile = 'policy.json'): string {
  const holder = policyHolder(principal)
  if (holder === undefined) return `aws iam put-role-policy --role-name ROLE_NAME --policy-name ${policyName} --policy-document file://${policyFile}`
  return holder.kind === 'role'
    ? `aws iam put-role-policy --role-name ${holder.name} --policy-name ${policyName} --policy-document file://${policyFile}`
    : `aws iam put-user-policy --user-name ${holder.name} --policy-name ${policyName} --policy-document file://${policyFile}`
}

/** Grant target (partition, account, region) from an identity report. */
export function targetOf (identity: Pick<Identity, 'principal' | 'account' | 'region'>, kmsKeys?: readonly string[]): GrantTarget {
  const arn = parseArn(identity.principal)
  return { partition: arn?.partition ?? 'aws', account: identity.account ?? arn?.account, region: identity.region, kmsKeys }
}

/** The least-privilege grant documents for `refs` read by `identity`. */
export function grantDocuments (refs: readonly SecretReference[], identity: Pick<Identity, 'principal' | 'account' | 'region'>, kmsKeys?: readonly string[]): GrantDocument[] {
  const policy = secretsPolicy(refs, targetOf(identity, kmsKeys))
  if (policy.Statement.length === 0) return []
  const who = identity.principal ?? 'the app\'s IAM role'
  return [
    { title: `IAM policy for ${who}`, format: 'json', text: JSON.stringify(policy, null, 2) },
    { title: `attach it to ${policyHolder(identity.principal)?.name ?? 'the role'} (save the policy above as policy.json)`, format: 'sh', text: attachPolicyCommand(identity.principal) }
  ]
}
