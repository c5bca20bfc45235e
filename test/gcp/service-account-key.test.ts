import { test } from 'tap'
import { randomSecret } from '../helpers/capture.js'
import { writeServiceAccountKey } from '../fakes/gcp/index.js'
import { SA_EMAIL, start, startFakes, withEnv } from './helpers.js'

test('service-account key in GOOGLE_APPLICATION_CREDENTIALS: identity, self-signed JWT to Secret Manager, values', async (t) => {
  const fakes = await startFakes(t)
  const key = writeServiceAccountKey(fakes.world, SA_EMAIL)
  const db = randomSecret()
  fakes.world.addSecret('projects/demo-project/secrets/db-password', ['old', db])
  fakes.world.allowAccess(SA_EMAIL, 'projects/demo-project/secrets/db-password')
  withEnv(t, { GOOGLE_APPLICATION_CREDENTIALS: key.file, CLOUD_SECRETS_PROVIDER: 'gcp', CLOUD_SECRETS: 'db=db-password, first=db-password?version=1' })
  const { app, error, logs } = await start(t)
  t.error(error)
  console.log(logs.text())
  t.equal(app.secrets.db, db)
  t.equal(app.secrets.first, 'old')
  const identity = app.cloud.identity
  t.match(identity, { provider: 'gcp', source: 'gcp:service-account-key', principal: SA_EMAIL, project: 'demo-project', platform: 'local' })
  t.ok(identity.expiresAt !== undefined && Date.parse(identity.expiresAt) > Date.now())
  t.same(fakes.world.counters.authKinds, ['self-signed-jwt', 'self-signed-jwt'])
  t.equal(fakes.world.counters.oauthToken, 1, 'one token at boot proves the key')
})
