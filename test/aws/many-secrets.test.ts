import { test } from 'tap'
import { startAwsFakes } from '../fakes/aws/index.js'
import { randomSecret } from '../helpers/capture.js'
import { setEnv, startApp } from './helpers.js'

test('a 200-secret boot on Secrets Manager: every value in 10 batch reads, no process warning', async (t) => {
  const fakes = await startAwsFakes()
  t.teardown(() => fakes.close())
  const warnings: string[] = []
  const onWarning = (w: Error): void => { warnings.push(`${w.name}: ${w.message}`) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  const names = Array.from({ length: 200 }, (_, i) => `many/${i}`)
  const values = names.map((n) => { const v = randomSecret('many'); fakes.world.putSecret(n, v); return v })
  const keys = fakes.world.issue('arn:aws:iam::123456789012:user/many', ['secretsmanager:GetSecretValue', 'secretsmanager:BatchGetSecretValue'], { session: false })
  setEnv(t, { ...fakes.env, AWS_ACCESS_KEY_ID: keys.accessKeyId, AWS_SECRET_ACCESS_KEY: keys.secretAccessKey })
  const secrets = Object.fromEntries(names.map((n, i) => [`s${i}`, n]))
  const { app, error } = await startApp(t, { secrets, timeoutMs: 15_000 })
  t.error(error, 'startup succeeds')
  t.same(Object.values(app.secrets), values, 'all 200 values, in order')
  t.equal(fakes.sm.count('BatchGetSecretValue'), 10, '20 per batch call')
  await new Promise((resolve) => setImmediate(resolve))
  // environment credentials and the plugin's own calls load no SDK package, so not even the SDK's
  // NodeVersionSupportWarning (Node < 22) is printed: nothing at all on stderr
  t.same(warnings, [], 'no process warning (MaxListenersExceededWarning, the SDK\'s Node-version notice or any other)')
})
