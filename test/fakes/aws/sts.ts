import { randomUUID } from 'node:crypto'
import { FakeServer, type FakeAnswer, type FakeRequest } from './server.js'
import { signatureMatches } from './sigv4.js'
import { parseSigV4, type FakeAwsWorld, type FakeKeys } from './world.js'

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/'

function xml (status: number, body: string): FakeAnswer {
  return { status, headers: { 'content-type': 'text/xml', 'x-amzn-requestid': randomUUID() }, body }
}

function escape (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

/** An STS (Query protocol) error document. */
export function stsError (code: string, message: string, status = 400, type: 'Sender' | 'Receiver' = 'Sender'): FakeAnswer {
  return xml(status, `<ErrorResponse xmlns="${NS}"><Error><Type>${type}</Type><Code>${code}</Code><Message>${escape(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`)
}

function result (action: string, inner: string): FakeAnswer {
  return xml(200, `<${action}Response xmlns="${NS}"><${action}Result>${inner}</${action}Result><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></${action}Response>`)
}

function credentialsXml (keys: FakeKeys): string {
  return `<Credentials><AccessKeyId>${keys.accessKeyId}</AccessKeyId><SecretAccessKey>${escape(keys.secretAccessKey)}</SecretAccessKey><SessionToken>${escape(keys.sessionToken ?? '')}</SessionToken><Expiration>${keys.expiration.toISOString()}</Expiration></Credentials>`
}

/**
 * STS, Query protocol (form POST, XML answers): GetCallerIdentity (signed), AssumeRole (signed,
 * the caller must be trusted by the role or hold sts:AssumeRole) and AssumeRoleWithWebIdentity
 * (unsigned, the token must be the role's).
 */
export class FakeSts extends FakeServer {
  /** regions the signed calls were scoped to */
  readonly signingRegions: string[] = []

  constructor (readonly world: FakeAwsWorld, tls?: { key: string, cert: string }) {
    super({
      name: 'sts',
      tls,
      kindOf: (req) => new URLSearchParams(req.body).get('Action') ?? 'unknown',
      fault: (kind) => kind === 'throttle' ? stsError('Throttling', 'Rate exceeded') : stsError('InternalFailure', 'An internal error occurred.', 500, 'Receiver'),
      handle: (req, kind) => this.route(req, kind)
    })
  }

  private async route (req: FakeRequest, action: string): Promise<FakeAnswer> {
    const params = new URLSearchParams(req.body)
    if (action === 'AssumeRoleWithWebIdentity') {
      const role = this.world.roles.get(params.get('RoleArn') ?? '')
      if (role === undefined) return stsError('AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity', 403)
      if (role.webIdentityToken === undefined || params.get('WebIdentityToken') !== role.webIdentityToken) {
        return stsError('InvalidIdentityToken', 'Couldn\'t retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements')
      }
      const session = params.get('RoleSessionName') ?? 'session'
      const arn = this.world.assumedArn(role.arn, session)
      const keys = this.world.issue(arn, role.allow)
      return result(action, `${credentialsXml(keys)}<AssumedRoleUser><Arn>${arn}</Arn><AssumedRoleId>AROA:${session}</AssumedRoleId></AssumedRoleUser><SubjectFromWebIdentityToken>system:serviceaccount:default:app</SubjectFromWebIdentityToken><Audience>sts.amazonaws.com</Audience>`)
    }
    const sig = parseSigV4(req.headers.authorization as string | undefined)
    if (sig !== undefined) this.signingRegions.push(sig.region)
    const auth = this.world.authenticate(sig?.accessKeyId, req.headers['x-amz-security-token'] as string | undefined)
    if ('error' in auth) {
      const code = auth.error === 'UnrecognizedClientException' ? 'InvalidClientTokenId' : auth.error === 'ExpiredTokenException' ? 'ExpiredToken' : 'MissingAuthenticationToken'
      return stsError(code, auth.message, 403)
    }
    const keys = this.world.keysOf(sig?.accessKeyId ?? '')
    if (sig === undefined || keys === undefined || !await signatureMatches(req, sig, keys)) {
      return stsError('SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.', 403)
    }
    const principal = auth.principal
    switch (action) {
      case 'GetCallerIdentity':
        return result(action, `<Arn>${principal.arn}</Arn><UserId>${principal.userId}</UserId><Account>${principal.account}</Account>`)
      case 'AssumeRole': {
        const role = this.world.roles.get(params.get('RoleArn') ?? '')
        if (role === undefined || !(role.trusted?.includes(principal.arn) === true || this.world.can(principal, 'sts:AssumeRole', role.arn))) {
          return stsError('AccessDenied', `User: ${principal.arn} is not authorized to perform: sts:AssumeRole on resource: ${params.get('RoleArn') ?? ''}`, 403)
        }
        const session = params.get('RoleSessionName') ?? 'session'
        const arn = this.world.assumedArn(role.arn, session)
        const keys = this.world.issue(arn, role.allow)
        return result(action, `${credentialsXml(keys)}<AssumedRoleUser><Arn>${arn}</Arn><AssumedRoleId>AROA:${session}</AssumedRoleId></AssumedRoleUser>`)
      }
      default:
        return stsError('InvalidAction', `Could not find operation ${action} for version 2011-06-15`)
    }
  }
}
