import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts'
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import { test } from 'tap'
import type { SecretReference } from '../../src/reference.js'
import { batchedIds, chunk } from '../../src/providers/aws/batches.js'
import { attachPolicyCommand, grantDocuments, kmsDecryptStatement, parseArn, policyHolder, secretResourceArn, secretsPolicy } from '../../src/providers/aws/grant.js'
import { reasonOf } from '../../src/providers/aws/chain.js'
import { classifyProfile, parseIni, readProfile } from '../../src/providers/aws/profile.js'
import { detectPlatform, planSources, sourceOf } from '../../src/providers/aws/sources.js'
import { AwsSdkError, classifyAwsError, tokenFix } from '../../src/providers/aws/errors.js'
import { outcomeOf } from '../../src/providers/aws/secrets.js'
import { startAwsFakes, type AwsFakes } from '../fakes/aws/index.js'
import { assertNoLeak, errorText, randomSecret } from '../helpers/capture.js'
import { loopbackViolations, setEnv, startApp, tempFiles } from './helpers.js'

const READ = ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue']
let fakes: AwsFakes

test('setup', async () => {
  fakes = await startAwsFakes()
})

test('app.cloud.aws: credentials, region, secretsManager, client(Ctor) memoised, destroyed on close', async (t) => {
  const value = randomSecret('cl')
  fakes.world.putSecret('cl/a', value)
  const keys = fakes.world.issue('arn:aws:iam::123456789012:user/cl', READ, { session: false })
  setEnv(t, { ...fakes.env, AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey })
  const { app, error, logs } = await startApp(t, { secrets: { a: 'cl/a' } })
  t.error(error)
  const aws = app.cloud.aws
  if (aws === undefined) throw new Error('app.cloud.aws missing')
  t.equal(aws.region, 'us-east-1')
  t.equal(aws.identity.principal, 'arn:aws:iam::123456789012:user/cl')
  const creds = await aws.credentials()
  t.equal(creds.accessKeyId, keys.accessKeyId, 'the shared credential provider')
  t.equal(aws.client(SecretsManagerClient), aws.secretsManager, 'secretsManager is the memoised SecretsManagerClient')
  const sts = aws.client(STSClient)
  t.equal(aws.client(STSClient), sts, 'memoised per constructor')
  const other = aws.client(STSClient, { maxAttempts: 2 })
  t.not(other, sts, 'another config is another client')
  t.equal(aws.client(STSClient, { maxAttempts: 2 }), other)
  const who = await sts.send(new GetCallerIdentityCommand({}))
  t.equal(who.Arn, 'arn:aws:iam::123456789012:user/cl', 'same identity')
  t.equal(await sts.config.region(), 'us-east-1', 'same region')
  const got = await aws.secretsManager.send(new GetSecretValueCommand({ SecretId: 'cl/a' }))
  t.equal(got.SecretString, value)
  const res = await app.inject('/who')
  t.same(res.json(), { principal: 'arn:aws:iam::123456789012:user/cl', same: true })
  t.same(JSON.parse(JSON.stringify(app.cloud)).identity.principal, 'arn:aws:iam::123456789012:user/cl', 'app.cloud serializes to the identity only')
  t.notMatch(JSON.stringify(app.cloud), keys.secretAccessKey)
  const destroyed: string[] = []
  for (const [name, client] of [['sts', sts], ['sts2', other], ['secretsManager', aws.secretsManager]] as const) {
    const destroy = client.destroy.bind(client)
    client.destroy = () => { destroyed.push(name); destroy() }
  }
  await app.close()
  t.same(destroyed.sort(), ['secretsManager', 'sts', 'sts2'], 'every client handed out is destroyed on close')
  t.throws(() => aws.client(STSClient), /after the app closed/)
  assertNoLeak(t, logs.text(), fakes.world.sensitive(), 'logs')
})

const ref = (alias: string, id: string, extra: Partial<SecretReference> = {}): SecretReference => ({ alias, provider: 'aws', id, optional: false, raw: id, ...extra })

test('grant builders are pure, exact and wildcard-free', async (t) => {
  t.equal(secretResourceArn('prod/db', { region: 'eu-west-1', account: '111122223333' }), 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:prod/db-??????')
  t.equal(secretResourceArn('prod/db'), 'arn:aws:secretsmanager:REGION:ACCOUNT_ID:secret:prod/db-??????')
  t.equal(secretResourceArn('arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf'), 'arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-AbCdEf', 'full ARN kept')
  t.equal(secretResourceArn('arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db'), 'arn:aws:secretsmanager:us-east-1:111122223333:secret:prod/db-??????', 'partial ARN completed')
  const refs = [ref('a', 'x'), ref('b', 'y'), ref('c', 'x', { alias: 'c', key: ['k'] }), ref('d', 'z', { stage: 'AWSPREVIOUS' })]
  t.same(batchedIds(refs), ['x', 'y'])
  t.same(batchedIds([ref('a', 'x'), ref('d', 'z', { version: '1' })]), [], 'one unpinned id: no batching')
  const policy = secretsPolicy(refs, { region: 'us-east-1', account: '111122223333', partition: 'aws' })
  t.same(policy.Statement.map((s) => s.Action), ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue'])
  t.same(policy.Statement[0].Resource, ['x', 'y', 'z'].map((n) => `arn:aws:secretsmanager:us-east-1:111122223333:secret:${n}-??????`))
  t.equal(policy.Statement[1].Resource, '*', 'BatchGetSecretValue has no resource-level permission')
  t.notOk(JSON.stringify(policy).includes('secretsmanager:*'), 'no wildcard action')
  t.same(secretsPolicy([ref('a', 'only')]).Statement.length, 1)
  t.same(secretsPolicy([]).Statement, [])
  t.match(kmsDecryptStatement('1234-abcd', { region: 'eu-west-1', account: '111122223333' }), { Action: 'kms:Decrypt', Resource: 'arn:aws:kms:eu-west-1:111122223333:key/1234-abcd', Condition: { StringEquals: { 'kms:ViaService': 'secretsmanager.eu-west-1.amazonaws.com' } } })
  t.same(policyHolder('arn:aws:sts::1:assumed-role/app/session'), undefined, 'malformed account')
  t.same(policyHolder('arn:aws:sts::111122223333:assumed-role/app/session'), { kind: 'role', name: 'app' })
  t.same(policyHolder('arn:aws:iam::111122223333:role/path/app'), { kind: 'role', name: 'app' })
  t.same(policyHolder('arn:aws:iam::111122223333:user/dev'), { kind: 'user', name: 'dev' })
  t.same(policyHolder('arn:aws:iam::111122223333:root'), undefined)
  t.equal(attachPolicyCommand('arn:aws:iam::111122223333:user/dev'), 'aws iam put-user-policy --user-name dev --policy-name fastify-cloud-secrets --policy-document file://policy.json')
  t.match(attachPolicyCommand(undefined), '--role-name ROLE_NAME')
  t.same(parseArn('not-an-arn'), undefined)
  t.same(chunk([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]])
  const docs = grantDocuments(refs, { principal: 'arn:aws-cn:sts::111122223333:assumed-role/app/s', region: 'cn-north-1' })
  t.match(JSON.parse(docs[0].text).Statement[0].Resource[0], /^arn:aws-cn:secretsmanager:cn-north-1:111122223333:secret:x-\?{6}$/)
  t.same(grantDocuments([], { region: 'us-east-1' }), [])
  t.match(grantDocuments([ref('a', 'x')], { region: 'us-east-1' }, ['k'])[0].text, 'kms:Decrypt')
})

test('identity helpers: ini, profile kinds, plans, $source, platform, reasons', async (t) => {
  const ini = parseIni('# c\n[default]\nregion = eu-west-1\n[profile a]\nrole_arn=r\n s3 =\n  x = y\nsource_profile = b\n; c\n[sso-session s]\nsso_region=us-east-1\nnot a setting\n')
  t.same(ini.get('default'), { region: 'eu-west-1' })
  t.same(ini.get('profile a'), { role_arn: 'r', source_profile: 'b' })
  t.same(classifyProfile({ aws_access_key_id: 'a', aws_secret_access_key: 'b' }), 'static')
  t.same(classifyProfile({ role_arn: 'r', web_identity_token_file: 'f' }), 'web-identity')
  t.same(classifyProfile({ login_session: 'x' }), 'login')
  t.same(classifyProfile({ region: 'x' }), 'empty')
  const dir = tempFiles({ config: '[profile web]\nrole_arn = arn:aws:iam::1:role/x\nweb_identity_token_file = /t\n[profile empty]\nregion = eu-west-1\n' })
  const env = { AWS_CONFIG_FILE: `${dir}/config`, AWS_SHARED_CREDENTIALS_FILE: `${dir}/none` }
  const web = readProfile(env, 'web')
  t.match(web, { found: true, kind: 'web-identity', explicit: true })
  t.match(planSources(env, web).find((p) => p.source === 'aws:web-identity'), { applies: true, reason: 'profile "web" has web_identity_token_file' })
  const empty = readProfile(env, 'empty')
  t.match(planSources(env, empty).find((p) => p.source === 'aws:profile'), { applies: false, reason: /empty/ })
  t.match(planSources({ ...env, AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b', AWS_PROFILE: 'x' }, readProfile(env))[0], { applies: false, reason: /AWS_PROFILE is set/ })
  t.match(planSources({ AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '/v2/x' }, readProfile(env)).find((p) => p.source === 'aws:container'), { applies: true, endpoint: 'container credentials http://169.254.170.2/v2/x' })
  const plans = planSources({}, readProfile(env))
  t.equal(sourceOf({ $source: { CREDENTIALS_IMDS: '0' } }, plans), 'aws:imds')
  t.equal(sourceOf({ $source: { CREDENTIALS_PROFILE_PROCESS: 'v' } }, plans), 'aws:process')
  t.equal(sourceOf({ $source: { CREDENTIALS_STS_ASSUME_ROLE: 'i', CREDENTIALS_PROFILE_SOURCE_PROFILE: 'o' } }, plans), 'aws:profile')
  t.equal(sourceOf({}, plans), 'aws:imds', 'no $source and no container: IMDS through the default chain')
  t.equal(sourceOf({}, planSources({ AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://127.0.0.1/x' }, readProfile(env))), 'aws:container')
  t.equal(detectPlatform({ AWS_EXECUTION_ENV: 'AWS_ECS_FARGATE' }, 'aws:container'), 'ecs')
  t.equal(detectPlatform({ AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://169.254.170.23/v1/credentials' }, 'aws:container'), 'eks')
  t.equal(detectPlatform({ AWS_WEB_IDENTITY_TOKEN_FILE: '/var/run/secrets/eks.amazonaws.com/serviceaccount/token' }, 'aws:web-identity'), 'eks')
  t.equal(reasonOf(Object.assign(new Error('Server responded with status: 403'), { name: 'CredentialsProviderError', Code: 'AccessDenied', Message: 'no' })), 'Server responded with status: 403 (AccessDenied: no)')
  t.match(reasonOf(Object.assign(new Error('boom'), { code: 'ECONNRESET' })), 'boom [ECONNRESET]')
})

test('error classification by name, never by status; causes are sanitized', async (t) => {
  const ctx = { refs: [ref('a', 'x')], identity: { principal: 'arn:aws:iam::111122223333:user/u', region: 'us-east-1', source: 'aws:profile' }, action: 'secretsmanager:GetSecretValue', secret: 'x', profile: 'dev' }
  const sdkError = (name: string, extra: Record<string, unknown> = {}): Error => Object.assign(new Error(`${name} happened`), { name, $metadata: { httpStatusCode: 404, requestId: 'req-1' }, $response: { headers: { authorization: 'AWS4-HMAC-SHA256 Credential=SECRET' }, body: 'raw' }, ...extra })
  t.equal(classifyAwsError(sdkError('AccessDeniedException'), ctx).kind, 'ACCESS_DENIED', 'a 404 status does not make it NOT_FOUND')
  t.equal(classifyAwsError(sdkError('ResourceNotFoundException', { $metadata: { httpStatusCode: 400 } }), ctx).kind, 'NOT_FOUND')
  t.equal(classifyAwsError(sdkError('InvalidRequestException', { message: 'You can\'t perform this operation on the secret because it was marked for deletion.' }), ctx).kind, 'NOT_FOUND')
  const unknown = classifyAwsError(sdkError('ValidationException'), ctx)
  // issue 12 item 6: a non-retryable 4xx was UNAVAILABLE ("kept failing until the deadline"); it is REJECTED now
  t.match(unknown, { kind: 'REJECTED', retryable: false })
  t.match(classifyAwsError(sdkError('SomethingNew', { $fault: 'server' }), ctx), { kind: 'UNAVAILABLE', retryable: true })
  t.match(classifyAwsError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), ctx), { kind: 'UNAVAILABLE', retryable: true })
  t.match(classifyAwsError(sdkError('TimeoutError'), ctx), { kind: 'UNAVAILABLE', retryable: true })
  t.match(classifyAwsError(sdkError('ThrottlingException', { $response: { headers: { 'retry-after': '2' } } }), ctx), { kind: 'THROTTLED', retryAfterMs: 2000 })
  const token = classifyAwsError(sdkError('UnrecognizedClientException'), ctx)
  t.match(token, { kind: 'TOKEN' })
  t.match(token.fix, 'aws configure --profile dev')
  const text = errorText(token)
  t.notMatch(text, 'Credential=SECRET', 'the raw response never reaches inspect/JSON')
  t.match(text, 'req-1', 'the request id is kept')
  t.ok(token.cause instanceof AwsSdkError)
  for (const source of ['aws:sso', 'aws:process', 'aws:web-identity', 'aws:container', 'aws:imds', undefined]) t.ok(tokenFix(source, undefined).length > 10)
  t.match(tokenFix('aws:sso', undefined), 'aws sso login --profile default')
  t.match(outcomeOf({ VersionId: 'v' }, { id: 'x' }, ctx, 'us-east-1', 1), { ok: false })
})

test('teardown', async (t) => {
  await fakes.close()
  t.same(loopbackViolations(), [], 'no connection left loopback')
})
