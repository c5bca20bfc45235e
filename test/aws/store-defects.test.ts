import { test, type Test } from 'tap'
import type { CloudSecretsError } from '../../src/errors.js'
import { secretsPolicy } from '../../src/providers/aws/grant.js'
import { startAwsFakes, type AwsFakes } from '../fakes/aws/index.js'
import { randomSecret } from '../helpers/capture.js'
import { brief, setEnv, startApp } from './helpers.js'

// Issue 12, items 3–9: what an independent Secrets Manager implementation found.

const USER = 'arn:aws:iam::123456789012:user/app'
const READ_ALL = ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue']
let fakes: AwsFakes

test('setup', async () => {
  fakes = await startAwsFakes({ otherRegions: ['eu-west-1'] })
})

function as (t: Test, allow: string[]): void {
  const keys = fakes.world.issue(USER, allow, { session: false })
  setEnv(t, { ...fakes.env, AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey })
  for (const k of Object.keys(fakes.sm.counts)) delete fakes.sm.counts[k]
  fakes.sm.requests.length = 0
  fakes.sm.faults = {}
  fakes.sm.batchMode = 'ok'
}

/** `n` secrets `prefix/s0…` in the fake, and the alias map `s0…` → them */
function manySecrets (prefix: string, n: number): Record<string, string> {
  for (let i = 0; i < n; i++) fakes.world.putSecret(`${prefix}/s${i}`, randomSecret(`${prefix}${i}`))
  return Object.fromEntries(Array.from({ length: n }, (_, i) => [`s${i}`, `${prefix}/s${i}`]))
}

function failures (error: unknown): CloudSecretsError[] {
  const e = error as CloudSecretsError
  return e?.errors ?? (e === undefined ? [] : [e])
}

function signedRegion (headers: Record<string, unknown>): string | undefined {
  return /Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(String(headers.authorization))?.[1]
}

test('3: a full ARN of another region is read from that region, batched per region', async (t) => {
  const eu = fakes.world.putSecret('eu/only', randomSecret('eu'), { region: 'eu-west-1' })
  const eu2 = fakes.world.putSecret('eu/two', randomSecret('eu2'), { region: 'eu-west-1' })
  fakes.world.putSecret('us/a', randomSecret('usa'))
  fakes.world.putSecret('us/b', randomSecret('usb'))
  as(t, READ_ALL)
  const { app, error } = await startApp(t, { secrets: { eu: eu.arn, eu2: eu2.arn, a: 'us/a', b: 'us/b' } })
  t.equal(error, undefined, brief(error))
  t.equal(app.secrets.eu, eu.versions[0].string)
  t.equal(app.secrets.eu2, eu2.versions[0].string)
  t.equal(app.secrets.a, fakes.world.secrets.get('us/a')?.versions[0].string)
  const batches = fakes.sm.requests.filter((r) => r.kind === 'BatchGetSecretValue').map((r) => signedRegion(r.headers)).sort()
  t.same(batches, ['eu-west-1', 'us-east-1'], 'one batch per region, each signed for its region')
})

test('3: a missing full ARN gets a fix that is a valid command (no create-secret with an ARN)', async (t) => {
  as(t, READ_ALL)
  const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:eu/gone-VRTliG'
  const { error } = await startApp(t, { secrets: { eu: arn } })
  const err = failures(error)[0]
  t.equal(err?.code, 'FST_CLOUD_SECRETS_NOT_FOUND', brief(error))
  t.match(err.message, 'region eu-west-1')
  t.notMatch(err.fix, /create-secret --name arn:/)
  t.match(err.fix, `aws secretsmanager describe-secret --secret-id ${arn} --region eu-west-1`)
  t.match(err.fix, 'eu/gone')
  t.equal(signedRegion(fakes.sm.requests[0].headers), 'eu-west-1', 'the request went to the ARN\'s region')
})

test('4: a secret scheduled for deletion → the restore-secret fix, by the error name', async (t) => {
  const s = fakes.world.putSecret('old/pw', randomSecret('old'))
  s.pendingDeletion = true
  as(t, READ_ALL)
  const { error } = await startApp(t, { secrets: { pw: 'old/pw' } })
  const err = failures(error)[0]
  t.equal(err?.code, 'FST_CLOUD_SECRETS_NOT_FOUND', brief(error))
  t.match(err.message, 'scheduled for deletion')
  t.match(err.fix, 'aws secretsmanager restore-secret --secret-id old/pw --region us-east-1')
  t.notMatch(err.fix, 'create-secret')
})

test('4: other wordings of a deletion ("marked deleted") classify the same', async (t) => {
  const { classifyAwsError } = await import('../../src/providers/aws/errors.js')
  const ctx = { refs: [], identity: { region: 'us-east-1', source: 'aws:env' }, action: 'secretsmanager:GetSecretValue', secret: 'x/y' }
  for (const message of ['Secret x/y is marked deleted', 'The secret is scheduled for deletion', 'pending deletion']) {
    const err = classifyAwsError(Object.assign(new Error(message), { name: 'InvalidRequestException' }), ctx)
    t.equal(err.kind, 'NOT_FOUND', message)
    t.match(err.fix, 'restore-secret --secret-id x/y')
  }
})

test('6: a non-retryable 4xx is REJECTED after one attempt, not "kept failing until the deadline"', async (t) => {
  const { classifyAwsError } = await import('../../src/providers/aws/errors.js')
  const ctx = { refs: [], identity: { region: 'us-east-1', source: 'aws:env' }, action: 'secretsmanager:GetSecretValue', secret: 'x/y' }
  const err = classifyAwsError(Object.assign(new Error('You provided a parameter value that is not valid'), { name: 'InvalidRequestException', $metadata: { httpStatusCode: 400 } }), ctx)
  t.equal(err.kind, 'REJECTED')
  t.equal(err.retryable, false)
  t.match(err.message, 'not retried')
  t.match(err.fix, 'aws secretsmanager describe-secret --secret-id x/y --region us-east-1')
})

test('6: a network failure names the service and the endpoint host', async (t) => {
  const { classifyAwsError } = await import('../../src/providers/aws/errors.js')
  const ctx = { refs: [], identity: { region: 'us-east-1', source: 'aws:env' }, action: 'sts:GetCallerIdentity', service: 'STS', endpoint: '127.0.0.1:5999' }
  const err = classifyAwsError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5999'), { code: 'ECONNREFUSED' }), ctx)
  t.equal(err.kind, 'UNAVAILABLE')
  t.match(err.message, 'sts:GetCallerIdentity on STS at 127.0.0.1:5999 failed')
  t.notMatch(err.message, 'Secrets Manager')
  t.match(err.fix, '127.0.0.1:5999')
})

test('5: a batch that answers 5xx with an HTML page is retried, then the secrets are read singly, said once', async (t) => {
  const secrets = manySecrets('html', 45)
  as(t, READ_ALL)
  fakes.sm.batchMode = 'html-500'
  const { app, error, logs } = await startApp(t, { secrets })
  t.equal(error, undefined, brief(error))
  t.equal(app.secrets.s44, fakes.world.secrets.get('html/s44')?.versions[0].string)
  // the first round sends every chunk's batch at once (beside STS); only the first chunk retries it
  t.equal(fakes.sm.count('BatchGetSecretValue'), 3 + 2, 'the first chunk\'s batch call was retried (3 attempts), the other two chunks tried it once, in the first round')
  t.equal(fakes.sm.count('GetSecretValue'), 45)
  const lines = logs.records().filter((r) => String(r.msg).includes('is not served by'))
  t.equal(lines.length, 1, 'one info line')
})

test('5: an unknown-operation answer falls back to single reads at once', async (t) => {
  const secrets = manySecrets('unk', 3)
  as(t, READ_ALL)
  fakes.sm.batchMode = 'unknown-operation'
  const { app, error } = await startApp(t, { secrets })
  t.equal(error, undefined, brief(error))
  t.equal(app.secrets.s2, fakes.world.secrets.get('unk/s2')?.versions[0].string)
  t.equal(fakes.sm.count('BatchGetSecretValue'), 1)
  t.equal(fakes.sm.count('GetSecretValue'), 3)
})

test('9: a denied batch is learned once: 60 secrets → one denied call per chunk, all in the first round', async (t) => {
  const secrets = manySecrets('den', 60)
  as(t, ['secretsmanager:GetSecretValue'])
  // 63 calls in all: a roomy deadline, so a busy machine (two suites side by side) cannot make it fire; the test counts calls
  const { app, error, logs } = await startApp(t, { secrets, timeoutMs: 15_000 })
  t.equal(error, undefined, brief(error))
  t.equal(app.secrets.s59, fakes.world.secrets.get('den/s59')?.versions[0].string)
  t.equal(fakes.sm.count('BatchGetSecretValue'), 3, 'one denied call per chunk, sent together in the first round; none retried')
  t.equal(fakes.sm.count('GetSecretValue'), 60)
  t.equal(logs.records().filter((r) => String(r.msg).includes('BatchGetSecretValue is not allowed')).length, 1)
})

test('8: a name that ends like an ARN suffix still gets -?????? in the policy', async (t) => {
  const ref = { alias: 'x', provider: 'aws', id: 'app/secret-abcdef', raw: 'app/secret-abcdef', optional: false }
  const policy = secretsPolicy([ref as never], { region: 'us-east-1', account: '123456789012' })
  t.same(policy.Statement[0].Resource, 'arn:aws:secretsmanager:us-east-1:123456789012:secret:app/secret-abcdef-??????')
})

test('6: STS unreachable at AWS_ENDPOINT_URL → the error names STS and the host, not Secrets Manager', async (t) => {
  as(t, READ_ALL)
  setEnv(t, { AWS_ENDPOINT_URL_STS: undefined, AWS_ENDPOINT_URL: 'http://127.0.0.1:9' })
  const { error } = await startApp(t, { secrets: { a: 'x/y' }, retry: { maxAttempts: 1 } })
  const err = failures(error)[0]
  t.equal(err?.code, 'FST_CLOUD_SECRETS_UNAVAILABLE', brief(error))
  t.match(err.message, 'sts:GetCallerIdentity on STS at 127.0.0.1:9 failed')
  t.notMatch(err.message, 'on Secrets Manager')
  t.match(err.fix, '127.0.0.1:9')
})

test('teardown', async () => {
  await fakes.close()
})
