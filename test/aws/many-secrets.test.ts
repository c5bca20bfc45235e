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
  // the SDK's own notice on Node < 22 (its releases after January 2027 need Node 22) is the
  // user's to see or silence (AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true); none of ours
  t.same(warnings.filter((w) => !w.includes('NodeVersionSupportWarning')), [], 'no process warning of ours (MaxListenersExceededWarning or any other)')
})
