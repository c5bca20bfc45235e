import { randomUUID } from 'node:crypto'
import { FakeServer, type FakeAnswer, type FakeRequest } from './server.js'
import { signatureMatches } from './sigv4.js'
import { parseSigV4, type FakeAwsWorld, type FakePrincipal, type FakeSecret } from './world.js'

const JSON_TYPE = 'application/x-amz-json-1.1'

function json (status: number, body: unknown): FakeAnswer {
  return { status, headers: { 'content-type': JSON_TYPE, 'x-amzn-requestid': randomUUID() }, body: JSON.stringify(body) }
}

/** A Secrets Manager error: JSON 1.1 `__type` + message. AWS answers 400 for most. */
export function smError (name: string, message: string, status = 400): FakeAnswer {
  return json(status, { __type: name, message })
}

/**
 * Secrets Manager, JSON 1.1 over HTTP(S): GetSecretValue and BatchGetSecretValue (20-id limit,
 * per-item Errors), callers identified by the access key in their SigV4 Authorization header
 * and allowed by their principal's allow list.
 */
export class FakeSecretsManager extends FakeServer {
  /** how BatchGetSecretValue is served: normally, or as an endpoint without it would (HTML 5xx page, unknown operation) */
  batchMode: 'ok' | 'html-500' | 'unknown-operation' = 'ok'
  constructor (readonly world: FakeAwsWorld, tls?: { key: string, cert: string }) {
    super({
      name: 'secretsmanager',
      tls,
      kindOf: (req) => String(req.headers['x-amz-target'] ?? 'unknown').replace(/^secretsmanager\./, ''),
      fault: (kind) => kind === 'throttle' ? smError('ThrottlingException', 'Rate exceeded') : smError('InternalServiceError', 'An error occurred on the server side.', 500),
      handle: (req, kind) => this.route(req, kind)
    })
  }

  private async route (req: FakeRequest, kind: string): Promise<FakeAnswer> {
    if (req.method !== 'POST' || req.path !== '/') return smError('UnknownOperationException', 'not found', 404)
    const sig = parseSigV4(req.headers.authorization as string | undefined)
    const auth = this.world.authenticate(sig?.accessKeyId, req.headers['x-amz-security-token'] as string | undefined)
    if ('error' in auth) return smError(auth.error, auth.message)
    const keys = this.world.keysOf(sig?.accessKeyId ?? '')
    if (sig === undefined || keys === undefined || !await signatureMatches(req, sig, keys)) {
      return smError('InvalidSignatureException', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.')
    }
    if (sig?.service !== 'secretsmanager') return smError('InvalidSignatureException', 'Credential should be scoped to correct service: \'secretsmanager\'.')
    let input: Record<string, unknown>
    try {
      input = JSON.parse(req.body) as Record<string, unknown>
    } catch {
      return smError('SerializationException', 'invalid JSON')
    }
    if (kind === 'BatchGetSecretValue' && this.batchMode === 'html-500') {
      return { status: 502, headers: { 'content-type': 'text/html' }, body: '<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>' }
    }
    if (kind === 'BatchGetSecretValue' && this.batchMode === 'unknown-operation') return smError('UnknownOperationException', 'Unknown operation BatchGetSecretValue')
    switch (kind) {
      case 'GetSecretValue': {
        const result = this.read(auth.principal, String(input.SecretId), input.VersionId as string | undefined, input.VersionStage as string | undefined, sig.region)
        return 'error' in result ? smError(result.error, result.message) : json(200, result.value)
      }
      case 'BatchGetSecretValue': {
        const ids = (input.SecretIdList ?? []) as string[]
        if (!Array.isArray(ids) || ids.length === 0) return smError('InvalidParameterException', 'SecretIdList or Filters is required')
        if (ids.length > 20) return smError('ValidationException', '1 validation error detected: Value at \'secretIdList\' failed to satisfy constraint: Member must have length less than or equal to 20')
        if (!this.world.can(auth.principal, 'secretsmanager:BatchGetSecretValue')) {
          return smError('AccessDeniedException', `User: ${auth.principal.arn} is not authorized to perform: secretsmanager:BatchGetSecretValue because no identity-based policy allows the secretsmanager:BatchGetSecretValue action`)
        }
        const values: unknown[] = []
        const errors: unknown[] = []
        for (const id of ids) {
          const result = this.read(auth.principal, id, undefined, undefined, sig.region)
          if ('error' in result) errors.push({ SecretId: id, ErrorCode: result.error, Message: result.message })
          else values.push(result.value)
        }
        return json(200, { SecretValues: values, Errors: errors })
      }
      default:
        return smError('UnknownOperationException', `fake Secrets Manager does not implement ${kind}`)
    }
  }

  private read (principal: FakePrincipal, id: string, versionId?: string, stage?: string, region = this.world.region): { value: unknown } | { error: string, message: string } {
    const name = this.world.secretName(id)
    if (!this.world.can(principal, 'secretsmanager:GetSecretValue', name)) {
      return { error: 'AccessDeniedException', message: `User: ${principal.arn} is not authorized to perform: secretsmanager:GetSecretValue on resource: ${id} because no identity-based policy allows the secretsmanager:GetSecretValue action` }
    }
    const secret: FakeSecret | undefined = this.world.findSecret(id)
    // as on AWS, a region's endpoint knows only that region's secrets (the ARN's region is not followed)
    if (secret === undefined || secret.arn.split(':')[3] !== region) return { error: 'ResourceNotFoundException', message: 'Secrets Manager can\'t find the specified secret.' }
    if (secret.pendingDeletion === true) return { error: 'InvalidRequestException', message: 'You can\'t perform this operation on the secret because it was marked for deletion.' }
    const version = versionId !== undefined
      ? secret.versions.find((v) => v.id === versionId)
      : secret.versions.find((v) => v.stages.includes(stage ?? 'AWSCURRENT'))
    if (version === undefined) {
      return { error: 'ResourceNotFoundException', message: `Secrets Manager can't find the specified secret value for ${versionId !== undefined ? `VersionId: ${versionId}` : `staging label: ${stage ?? 'AWSCURRENT'}`}` }
    }
    if (secret.kmsKeyId !== undefined && !this.world.can(principal, 'kms:Decrypt', secret.kmsKeyId)) {
      return { error: 'DecryptionFailure', message: 'Secrets Manager can\'t decrypt the protected secret text using the provided KMS key.' }
    }
    return {
      value: {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: version.id,
        VersionStages: version.stages,
        CreatedDate: Math.floor(Date.now() / 1000),
        ...(version.string !== undefined ? { SecretString: version.string } : { SecretBinary: Buffer.from(version.binary ?? []).toString('base64') })
      }
    }
  }
}
