import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'tap'
import { startAwsFakes } from '../fakes/aws/index.js'
import { errorText } from '../helpers/capture.js'
import { loopbackViolations, setEnv, startApp, tempFiles } from './helpers.js'

// Issue 12 item 10: an Identity Center token is valid only in its sso_region; the app's region
// (the profile's `region`) must not send GetRoleCredentials to another region's portal.
test('SSO profile whose region differs from its sso_region: the portal is called in sso_region', async (t) => {
  const fakes = await startAwsFakes({ region: 'eu-west-1', ssoRegion: 'us-east-1' })
  t.teardown(async () => { await fakes.close() })
  fakes.world.putSecret('app/jwt', 'jwt-value-sso-region-0123')
  const token = fakes.world.remember(`sso-token-${createHash('sha1').update(String(Math.random())).digest('hex')}`)
  fakes.world.ssoTokens.add(token)
  fakes.sso.options.allow = ['secretsmanager:GetSecretValue']
  const home = tempFiles({})
  const cache = join(home, '.aws', 'sso', 'cache')
  mkdirSync(cache, { recursive: true })
  writeFileSync(join(cache, `${createHash('sha1').update('s').digest('hex')}.json`), JSON.stringify({
    startUrl: 'https://corp.awsapps.com/start', region: 'us-east-1', accessToken: token, expiresAt: new Date(Date.now() + 3600_000).toISOString()
  }))
  writeFileSync(join(home, 'config'), '[profile dev]\nsso_session = s\nsso_account_id = 123456789012\nsso_role_name = ReadSecrets\nregion = eu-west-1\n\n[sso-session s]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\nsso_registration_scopes = sso:account:access\n')
  setEnv(t, { ...fakes.env, AWS_REGION: undefined, HOME: home, AWS_PROFILE: 'dev', AWS_CONFIG_FILE: join(home, 'config') })
  const before = loopbackViolations().length
  const { app, error } = await startApp(t, { secrets: { jwt: 'app/jwt' } })
  t.error(error, 'startup succeeds')
  if (error !== undefined) { t.comment(errorText(error)); return }
  t.equal(app.secrets.jwt, 'jwt-value-sso-region-0123')
  t.equal(app.cloud.identity.source, 'aws:sso')
  t.equal(app.cloud.identity.region, 'eu-west-1', 'Secrets Manager in the profile\'s region')
  t.equal(fakes.sso.count('GetRoleCredentials'), 1, 'GetRoleCredentials went to portal.sso.us-east-1')
  t.same(loopbackViolations().slice(before), [], 'nothing tried another region\'s portal')
})
