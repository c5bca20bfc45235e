import { inspect } from 'node:util'
import { test } from 'tap'
import { FakeContainerCredentials, startAwsFakes } from '../fakes/aws/index.js'
import { assertNoLeak, errorText, randomSecret } from '../helpers/capture.js'
import { loopbackViolations, setEnv, startApp } from './helpers.js'

test('no secret value, key or token in logs, errors, identity or serialized state — success and failure', async (t) => {
  const fakes = await startAwsFakes()
  t.teardown(fakes.close)
  const authToken = fakes.world.remember(randomSecret('container-auth'))
  const container = await new FakeContainerCredentials(fakes.world, { principal: 'arn:aws:sts::123456789012:assumed-role/leak-task/x', allow: ['secretsmanager:GetSecretValue:leak/a', 'secretsmanager:GetSecretValue:leak/b', 'secretsmanager:GetSecretValue:leak/json', 'secretsmanager:GetSecretValue:leak/missing', 'secretsmanager:BatchGetSecretValue'], token: authToken }).start()
  t.teardown(() => container.close())
  fakes.world.putSecret('leak/a', randomSecret('a'))
  fakes.world.putSecret('leak/b', Buffer.from(randomSecret('b')))
  fakes.world.putSecret('leak/json', JSON.stringify({ inner: randomSecret('inner'), other: randomSecret('other') }))
  fakes.world.putSecret('leak/denied', randomSecret('denied'))
  fakes.world.putSecret('leak/kms', randomSecret('kms'), { kmsKeyId: 'k-1' })
  setEnv(t, { ...fakes.env, AWS_CONTAINER_CREDENTIALS_FULL_URI: container.fullUri, AWS_CONTAINER_AUTHORIZATION_TOKEN: authToken })

  const ok = await startApp(t, { secrets: { a: 'leak/a', b: 'leak/b', inner: 'leak/json#inner', opt: 'leak/missing?optional' } })
  t.error(ok.error)
  const okText = [ok.logs.text(), JSON.stringify(ok.app.secrets), inspect(ok.app.secrets), JSON.stringify(ok.app.cloud), inspect(ok.app.cloud, { depth: 5 }), JSON.stringify(ok.app.cloud.identity)].join('\n')
  // the values themselves are in app.secrets on purpose; everything that serializes must not show them
  assertNoLeak(t, okText, fakes.world.sensitive(), 'successful startup: logs, app.secrets / app.cloud serialized')
  t.ok(ok.logs.records().some((r) => r.msg === 'cloud secrets loaded'), 'the startup line is there')

  const bad = await startApp(t, { secrets: { a: 'leak/a', denied: 'leak/denied', kms: 'leak/kms', missing: 'leak/missing', json: 'leak/json#nope' } })
  t.equal((bad.error as { code?: string })?.code, 'FST_CLOUD_SECRETS_LOAD_FAILED')
  assertNoLeak(t, errorText(bad.error) + bad.logs.text(), fakes.world.sensitive(), 'failed startup: error (message, stack, inspect with causes, JSON) and logs')

  setEnv(t, { AWS_CONTAINER_AUTHORIZATION_TOKEN: fakes.world.remember(randomSecret('wrong-auth')) })
  const refused = await startApp(t, { secrets: { a: 'leak/a' } })
  t.equal((refused.error as { code?: string })?.code, 'FST_CLOUD_SECRETS_NO_CREDENTIALS')
  assertNoLeak(t, errorText(refused.error) + refused.logs.text(), fakes.world.sensitive(), 'credentials failure: error and logs')
  t.same(loopbackViolations(), [], 'no connection left loopback')
})
