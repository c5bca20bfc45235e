import { randomBytes } from 'node:crypto'
import { FakeServer, type FakeAnswer } from './server.js'
import type { AllowList, FakeAwsWorld } from './world.js'

function json (status: number, body: unknown): FakeAnswer {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }
}

/**
 * The ECS / EKS Pod Identity container credentials endpoint: GET `path`, with the
 * Authorization token check when `token` is set.
 */
export class FakeContainerCredentials extends FakeServer {
  constructor (readonly world: FakeAwsWorld, readonly options: { principal: string, allow: AllowList, path?: string, token?: string }) {
    super({
      name: 'container-credentials',
      kindOf: () => 'credentials',
      fault: (kind) => json(kind === 'throttle' ? 429 : 500, { Code: kind === 'throttle' ? 'TooManyRequests' : 'InternalError', Message: 'fake fault' }),
      handle: (req) => {
        if (req.method !== 'GET' || req.path !== this.path) return json(404, { Code: 'NotFound', Message: `no credentials at ${req.path}` })
        if (options.token !== undefined && req.headers.authorization !== options.token) {
          return json(req.headers.authorization === undefined ? 401 : 403, { Code: 'AccessDenied', Message: 'Authorization token is missing or invalid' })
        }
        const keys = world.issue(options.principal, options.allow)
        return json(200, { AccessKeyId: keys.accessKeyId, SecretAccessKey: keys.secretAccessKey, Token: keys.sessionToken, Expiration: keys.expiration.toISOString(), AccountId: world.account })
      }
    })
  }

  get path (): string {
    return this.options.path ?? '/v2/credentials/task'
  }

  /** the value for AWS_CONTAINER_CREDENTIALS_FULL_URI */
  get fullUri (): string {
    return `${this.url}${this.path}`
  }
}

/**
 * IMDSv2: PUT /latest/api/token, then the role list and the role's credentials, each with the
 * X-aws-ec2-metadata-token header (401 without it).
 */
export class FakeImds extends FakeServer {
  readonly tokens = new Set<string>()

  constructor (readonly world: FakeAwsWorld, readonly options: { role: string, allow: AllowList }) {
    super({
      name: 'imds',
      kindOf: (req) => req.method === 'PUT' ? 'token' : req.path.endsWith('/security-credentials/') ? 'role-list' : req.path.includes('/security-credentials') ? 'credentials' : 'other',
      fault: (kind) => ({ status: kind === 'throttle' ? 429 : 500, body: 'fault' }),
      handle: (req) => {
        if (req.method === 'PUT' && req.path === '/latest/api/token') {
          if (req.headers['x-aws-ec2-metadata-token-ttl-seconds'] === undefined) return { status: 400, body: 'missing ttl' }
          const token = world.remember(randomBytes(24).toString('base64url'))
          this.tokens.add(token)
          return { status: 200, body: token }
        }
        if (!this.tokens.has(String(req.headers['x-aws-ec2-metadata-token']))) return { status: 401, body: 'Unauthorized' }
        const base = '/latest/meta-data/iam/security-credentials/'
        if (req.path === base) return { status: 200, body: options.role }
        if (req.path === `${base}${options.role}`) {
          const keys = world.issue(`arn:aws:sts::${world.account}:assumed-role/${options.role}/i-0123456789abcdef0`, options.allow)
          return json(200, { Code: 'Success', LastUpdated: new Date().toISOString(), Type: 'AWS-HMAC', AccessKeyId: keys.accessKeyId, SecretAccessKey: keys.secretAccessKey, Token: keys.sessionToken, Expiration: keys.expiration.toISOString() })
        }
        return { status: 404, body: 'Not Found' }
      }
    })
  }
}

/**
 * The IAM Identity Center (SSO) portal: GET /federation/credentials?account_id=&role_name= with
 * the cached access token in x-amz-sso_bearer_token.
 */
export class FakeSsoPortal extends FakeServer {
  constructor (readonly world: FakeAwsWorld, readonly options: { user: string, allow: AllowList }, tls?: { key: string, cert: string }) {
    super({
      name: 'sso',
      tls,
      kindOf: (req) => req.path === '/federation/credentials' ? 'GetRoleCredentials' : 'other',
      fault: (kind) => json(kind === 'throttle' ? 429 : 500, { message: 'fault' }),
      handle: (req) => {
        if (req.path !== '/federation/credentials') return json(404, { message: 'not found' })
        const token = req.headers['x-amz-sso_bearer_token'] as string | undefined
        if (token === undefined || !world.ssoTokens.has(token)) {
          return { status: 401, headers: { 'content-type': 'application/json', 'x-amzn-errortype': 'UnauthorizedException' }, body: JSON.stringify({ message: 'Session token not found or invalid' }) }
        }
        const account = req.url.searchParams.get('account_id') ?? world.account
        const role = req.url.searchParams.get('role_name') ?? 'role'
        const keys = world.issue(`arn:aws:sts::${account}:assumed-role/AWSReservedSSO_${role}_0123456789abcdef/${options.user}`, options.allow)
        return json(200, { roleCredentials: { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey, sessionToken: keys.sessionToken, expiration: keys.expiration.getTime() } })
      }
    })
  }
}
