import { test } from 'tap'
import Fastify from 'fastify'
import { cloudSecretsTesting } from '../../src/testing.js'

test('the testing export registers the plugin with in-memory values and a chosen identity', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(cloudSecretsTesting, {
    values: { jwtKey: 'test-signing-key' },
    absent: ['sentryDsn'],
    identity: { provider: 'aws', principal: 'arn:aws:sts::123456789012:assumed-role/app/test', account: '123456789012' }
  })
  app.get('/who', async (request) => ({ principal: request.cloud.identity.principal, hasKey: app.secrets.jwtKey === 'test-signing-key' }))
  const res = await app.inject('/who')
  t.same(res.json(), { principal: 'arn:aws:sts::123456789012:assumed-role/app/test', hasKey: true })
  t.equal(app.secrets.sentryDsn, undefined)
  t.match(app.cloud.identity, { provider: 'aws', platform: 'test', source: 'testing', account: '123456789012' })
  t.same(JSON.parse(JSON.stringify(app.secrets)), { jwtKey: '[redacted]' })
})

test('the testing export ignores process env and runs custom checks', async (t) => {
  process.env.CLOUD_SECRETS = 'x=arn:aws:secretsmanager:us-east-1:123456789012:secret:x'
  t.teardown(() => { delete process.env.CLOUD_SECRETS })
  let checked = false
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(cloudSecretsTesting, { checks: { custom: [() => { checked = true }] } })
  t.same(Object.keys(app.secrets), [])
  t.ok(checked)
})
