import type { KeyObject } from 'node:crypto'
import { randomToken, verifyJwt } from './jwt.js'

export interface FakeVersion { version: number, data: Buffer, state: 'ENABLED' | 'DISABLED' | 'DESTROYED' }
export interface FakeSecret { versions: FakeVersion[], aliases: Map<string, number> }

/** A gRPC status a fault makes the fake answer with. */
export interface FakeStatus {
  code: number
  details: string
  /** google.rpc.RetryInfo in the status details (grpc-status-details-bin), as Secret Manager sends with quota errors */
  retryDelaySeconds?: number
  /** google.rpc.ErrorInfo's reason in the status details (e.g. SERVICE_DISABLED) */
  reason?: string
}

export interface SecretManagerFaults {
  /** delay before answering each call, ms */
  latencyMs?: number
  /** a call on an HTTP/2 session younger than this waits until it is this old (TCP + TLS handshake cost) */
  connectionMs?: number
  /** accept calls and never answer */
  hang?: boolean
  /** statuses answered, one per call, before normal service resumes (e.g. 14 UNAVAILABLE, 8 RESOURCE_EXHAUSTED) */
  failures?: FakeStatus[]
  /** every call answers with this status (e.g. to keep throttling until the deadline) */
  always?: FakeStatus
  /** answer with a wrong payload CRC32C */
  badCrc?: boolean
  /** answer without payload.dataCrc32c */
  noCrc?: boolean
}

export interface HttpFaults {
  latencyMs?: number
  hang?: boolean
  /** HTTP statuses answered, one per request, before normal service resumes */
  failures?: number[]
}

export interface TokenGrant { principal: string, expiresAt: number, scopes: string[] }

export interface Counters {
  /** AccessSecretVersion calls that reached the fake, by resource name asked for */
  access: Map<string, number>
  /** the :authority (host) of each AccessSecretVersion call */
  hosts: string[]
  /** how each Secret Manager caller authenticated */
  authKinds: Array<'bearer' | 'self-signed-jwt'>
  metadata: Map<string, number>
  oauthToken: number
  tokeninfo: number
  sts: number
  generateAccessToken: number
  /**
   * What happened on the wire, in order, for ordering assertions (not timings):
   * `secret-manager tcp` / `secret-manager tls` when a Secret Manager connection is accepted /
   * its TLS handshake completes, `metadata asked PATH` / `metadata PATH` when a request for PATH
   * reaches the metadata server / is answered.
   */
  events: string[]
}

/**
 * The state shared by the fake Google endpoints: principals, keys, tokens, grants, secrets,
 * faults and request counters. Tests arrange it, the fakes read it.
 */
export class GcpWorld {
  readonly projectNumbers = new Map<string, string>()
  readonly secrets = new Map<string, FakeSecret>()
  /** principal → secret names it may read ('*' = all) */
  readonly allow = new Map<string, Set<string>>()
  readonly tokens = new Map<string, TokenGrant>()
  /** service-account key id → email + public key (for self-signed JWTs and jwt-bearer grants) */
  readonly serviceAccountKeys = new Map<string, { email: string, publicKey: KeyObject }>()
  /** refresh token → user (authorized_user credentials) */
  readonly refreshTokens = new Map<string, { email: string, clientId: string, clientSecret: string, scopes: string[] }>()
  /** STS: audience → how to read the subject token into a federated principal */
  readonly pools = new Map<string, { publicKey: KeyObject, poolPrincipalPrefix: string }>()
  /** federated principal (or principalSet prefix) → service accounts it may impersonate */
  readonly impersonation = new Map<string, Set<string>>()
  /** metadata server identity */
  metadataIdentity = { email: 'default-sa@demo-project.iam.gserviceaccount.com', projectId: 'demo-project' }
  tokenTtlSeconds = 3599
  /** tokeninfo answers 400 for every token (the user's email stays unknown) */
  tokeninfoDown = false

  readonly faults: { secretManager: SecretManagerFaults, metadata: HttpFaults, oauth: HttpFaults } = { secretManager: {}, metadata: {}, oauth: {} }
  readonly counters: Counters = { access: new Map(), hosts: [], authKinds: [], metadata: new Map(), oauthToken: 0, tokeninfo: 0, sts: 0, generateAccessToken: 0, events: [] }
  /** every access token the fakes issued in this world (for leak scans) */
  readonly issued: string[] = []

  constructor (projects: Record<string, string> = { 'demo-project': '123456789012' }) {
    for (const [id, number] of Object.entries(projects)) this.projectNumbers.set(id, number)
  }

  /** Adds a secret: `name` is projects/P/secrets/S or projects/P/locations/L/secrets/S. */
  addSecret (name: string, values: string | Array<string | { value: string, state?: FakeVersion['state'] }>, aliases: Record<string, number> = {}): void {
    const list = Array.isArray(values) ? values : [values]
    this.secrets.set(this.canonical(name), {
      versions: list.map((v, i) => typeof v === 'string'
        ? { version: i + 1, data: Buffer.from(v), state: 'ENABLED' }
        : { version: i + 1, data: Buffer.from(v.value), state: v.state ?? 'ENABLED' }),
      aliases: new Map(Object.entries(aliases))
    })
  }

  allowAccess (principal: string, ...secretNames: string[]): void {
    const set = this.allow.get(principal) ?? new Set<string>()
    for (const n of secretNames) set.add(n === '*' ? '*' : this.canonical(n))
    this.allow.set(principal, set)
  }

  mayRead (principal: string, secretName: string): boolean {
    const set = this.allow.get(principal)
    return set !== undefined && (set.has('*') || set.has(this.canonical(secretName)))
  }

  issueToken (principal: string, scopes: string[] = ['https://www.googleapis.com/auth/cloud-platform']): { token: string, expiresIn: number } {
    const token = randomToken()
    this.tokens.set(token, { principal, expiresAt: Date.now() + this.tokenTtlSeconds * 1000, scopes })
    this.issued.push(token)
    return { token, expiresIn: this.tokenTtlSeconds }
  }

  /** Who an Authorization header belongs to: an issued bearer token or a self-signed service-account JWT. */
  authenticate (authorization: string | undefined): { principal: string, kind: 'bearer' | 'self-signed-jwt' } | { error: string } {
    if (authorization === undefined || !authorization.startsWith('Bearer ')) return { error: 'Request is missing required authentication credential.' }
    const token = authorization.slice('Bearer '.length)
    const grant = this.tokens.get(token)
    if (grant !== undefined) {
      if (grant.expiresAt < Date.now()) return { error: 'Request had invalid authentication credentials: the access token expired.' }
      return { principal: grant.principal, kind: 'bearer' }
    }
    if (token.split('.').length === 3) {
      const verified = verifyJwt(token, (kid, payload) => this.serviceAccountKey(kid, payload.iss))
      if (!verified.ok) return { error: `Request had invalid authentication credentials: ${verified.reason}.` }
      const { iss, sub } = verified.payload
      if (typeof iss !== 'string' || iss !== sub) return { error: 'Request had invalid authentication credentials: iss and sub differ.' }
      return { principal: iss, kind: 'self-signed-jwt' }
    }
    return { error: 'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.' }
  }

  /** The public key of a service-account key: by key id (self-signed JWTs), or the issuer's only key (jwt-bearer grants carry no kid). */
  serviceAccountKey (kid: string | undefined, issuer: unknown): KeyObject | undefined {
    if (kid !== undefined) {
      const key = this.serviceAccountKeys.get(kid)
      return key !== undefined && key.email === issuer ? key.publicKey : undefined
    }
    const keys = [...this.serviceAccountKeys.values()].filter((k) => k.email === issuer)
    return keys.length === 1 ? keys[0].publicKey : undefined
  }

  projectNumber (project: string): string {
    return this.projectNumbers.get(project) ?? project
  }

  /** project numbers → ids, so grants and lookups match either form */
  canonical (name: string): string {
    const m = /^projects\/([^/]+)\/(.*)$/.exec(name)
    if (m === null) return name
    for (const [id, number] of this.projectNumbers) if (number === m[1]) return `projects/${id}/${m[2]}`
    return name
  }

  reset (): void {
    this.faults.secretManager = {}
    this.faults.metadata = {}
    this.faults.oauth = {}
    this.tokeninfoDown = false
    this.counters.access.clear()
    this.counters.hosts.length = 0
    this.counters.authKinds.length = 0
    this.counters.metadata.clear()
    this.counters.oauthToken = 0
    this.counters.tokeninfo = 0
    this.counters.sts = 0
    this.counters.generateAccessToken = 0
    this.counters.events.length = 0
  }

  /** metadata-server requests of every path */
  totalMetadataRequests (): number {
    let n = 0
    for (const v of this.counters.metadata.values()) n += v
    return n
  }

  totalAccessCalls (): number {
    let n = 0
    for (const v of this.counters.access.values()) n += v
    return n
  }
}
