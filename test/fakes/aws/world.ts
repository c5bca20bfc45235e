import { randomBytes } from 'node:crypto'

/** Parsed from a SigV4 `Authorization` header (verified by `signatureMatches` in sigv4.ts). */
export interface SigV4 {
  accessKeyId: string
  date: string
  region: string
  service: string
  signedHeaders: string[]
}

export function parseSigV4 (authorization: string | undefined): SigV4 | undefined {
  if (authorization === undefined) return undefined
  const m = /^AWS4-HMAC-SHA256\s+Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([^,]+),\s*Signature=[0-9a-f]+$/.exec(authorization.trim())
  if (m === null) return undefined
  return { accessKeyId: m[1], date: m[2], region: m[3], service: m[4], signedHeaders: m[5].split(';') }
}

/**
 * An allow list: `action` (every resource), `action:resource` (one secret name / role ARN).
 * e.g. ['secretsmanager:GetSecretValue:prod/db', 'secretsmanager:BatchGetSecretValue', 'kms:Decrypt']
 */
export type AllowList = readonly string[]

export interface FakePrincipal {
  arn: string
  account: string
  userId: string
  allow: AllowList
}

export interface FakeKeys {
  accessKeyId: string
  secretAccessKey: string
  sessionToken?: string
  expiration: Date
}

export interface FakeRole {
  arn: string
  allow: AllowList
  /** the web identity token AssumeRoleWithWebIdentity accepts */
  webIdentityToken?: string
  /** principal ARNs allowed to AssumeRole into it */
  trusted?: readonly string[]
}

export interface FakeSecretVersion {
  id: string
  stages: string[]
  string?: string
  binary?: Uint8Array
}

export interface FakeSecret {
  name: string
  arn: string
  versions: FakeSecretVersion[]
  /** a customer managed key: reading needs kms:Decrypt */
  kmsKeyId?: string
  /** DeleteSecret was called with a recovery window: reads answer InvalidRequestException */
  pendingDeletion?: boolean
}

function random (n: number, alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'): string {
  const bytes = randomBytes(n)
  return [...bytes].map((b) => alphabet[b % alphabet.length]).join('')
}

/**
 * The state the fakes share: principals behind access keys, IAM roles, and secrets. Every
 * credential and value is random per run; `sensitive()` lists them for leak scans.
 */
export class FakeAwsWorld {
  readonly account: string
  readonly region: string
  readonly keys = new Map<string, { principal: FakePrincipal, keys: FakeKeys, expired: boolean }>()
  readonly roles = new Map<string, FakeRole>()
  readonly secrets = new Map<string, FakeSecret>()
  /** SSO access tokens the portal accepts → principal for (account, role) */
  readonly ssoTokens = new Set<string>()
  private readonly extra: string[] = []

  constructor (options: { account?: string, region?: string } = {}) {
    this.account = options.account ?? '123456789012'
    this.region = options.region ?? 'us-east-1'
  }

  /** Issues access keys for a principal ARN with an allow list. */
  issue (arn: string, allow: AllowList = [], options: { session?: boolean, expiresInMs?: number } = {}): FakeKeys {
    const temporary = options.session ?? true
    const keys: FakeKeys = {
      accessKeyId: `${temporary ? 'ASIA' : 'AKIA'}${random(16)}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: temporary ? `IQoJ${randomBytes(48).toString('base64')}` : undefined,
      expiration: new Date(Date.now() + (options.expiresInMs ?? 3600_000))
    }
    const account = /^arn:aws:(?:sts|iam)::(\d{12}):/.exec(arn)?.[1] ?? this.account
    this.keys.set(keys.accessKeyId, { principal: { arn, account, userId: `AROA${random(17)}`, allow }, keys, expired: false })
    return keys
  }

  /** Makes issued keys look expired to every service. */
  expire (accessKeyId: string): void {
    const entry = this.keys.get(accessKeyId)
    if (entry !== undefined) entry.expired = true
  }

  role (name: string, allow: AllowList, options: { webIdentityToken?: string, trusted?: readonly string[] } = {}): FakeRole {
    const role: FakeRole = { arn: `arn:aws:iam::${this.account}:role/${name}`, allow, ...options }
    this.roles.set(role.arn, role)
    return role
  }

  /** The principal ARN an assumed role session gets. */
  assumedArn (roleArn: string, session: string): string {
    const name = roleArn.split('/').pop() as string
    return `arn:aws:sts::${this.account}:assumed-role/${name}/${session}`
  }

  /** Adds (or replaces) a secret; a plain value becomes the AWSCURRENT version. */
  putSecret (name: string, value: string | Uint8Array | Array<{ id?: string, value: string | Uint8Array, stages: string[] }>, options: { kmsKeyId?: string, region?: string } = {}): FakeSecret {
    const list = Array.isArray(value) ? value : [{ value, stages: ['AWSCURRENT'] }]
    const versions = list.map((v) => ({
      id: v.id ?? randomBytes(16).toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5'),
      stages: v.stages,
      ...(typeof v.value === 'string' ? { string: v.value } : { binary: v.value })
    }))
    const secret: FakeSecret = { name, arn: `arn:aws:secretsmanager:${options.region ?? this.region}:${this.account}:secret:${name}-${random(6, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789')}`, versions, kmsKeyId: options.kmsKeyId }
    this.secrets.set(name, secret)
    return secret
  }

  /** By name, full ARN or partial ARN (no suffix), as Secrets Manager resolves a SecretId. */
  findSecret (id: string): FakeSecret | undefined {
    if (!id.startsWith('arn:')) return this.secrets.get(id)
    for (const s of this.secrets.values()) if (s.arn === id || (s.arn.startsWith(`${id}-`) && s.arn.length === id.length + 7)) return s
    return undefined
  }

  /** The name a SecretId refers to, for allow lists (ARN → name). */
  secretName (id: string): string {
    return this.findSecret(id)?.name ?? (/:secret:(.+)$/.exec(id)?.[1] ?? id)
  }

  can (principal: FakePrincipal, action: string, resource?: string): boolean {
    return principal.allow.includes(action) || (resource !== undefined && principal.allow.includes(`${action}:${resource}`))
  }

  /** The principal behind a request's access key, or why it is refused. */
  authenticate (accessKeyId: string | undefined, sessionToken: string | undefined): { principal: FakePrincipal } | { error: 'UnrecognizedClientException' | 'ExpiredTokenException' | 'MissingAuthenticationToken', message: string } {
    if (accessKeyId === undefined) return { error: 'MissingAuthenticationToken', message: 'Request is missing Authentication Token' }
    const entry = this.keys.get(accessKeyId)
    if (entry === undefined || entry.keys.sessionToken !== sessionToken) return { error: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' }
    if (entry.expired) return { error: 'ExpiredTokenException', message: 'The security token included in the request is expired' }
    return { principal: entry.principal }
  }

  /** The keys issued under an access key id (for verifying a signature). */
  keysOf (accessKeyId: string): FakeKeys | undefined {
    return this.keys.get(accessKeyId)?.keys
  }

  /** A value that must never appear in logs or errors (besides the issued keys and secrets). */
  remember (value: string): string {
    this.extra.push(value)
    return value
  }

  /** Every secret access key, session token, secret value and token this world issued. */
  sensitive (): string[] {
    const out = [...this.extra]
    for (const { keys } of this.keys.values()) {
      out.push(keys.secretAccessKey)
      if (keys.sessionToken !== undefined) out.push(keys.sessionToken)
    }
    for (const role of this.roles.values()) if (role.webIdentityToken !== undefined) out.push(role.webIdentityToken)
    for (const token of this.ssoTokens) out.push(token)
    for (const s of this.secrets.values()) {
      for (const v of s.versions) {
        if (v.string !== undefined) out.push(v.string)
        if (v.binary !== undefined) out.push(Buffer.from(v.binary).toString('base64'))
      }
    }
    return out.filter((v) => v.length >= 8)
  }
}
