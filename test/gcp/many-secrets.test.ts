import { test } from 'tap'
import { writeServiceAccountKey } from '../fakes/gcp/index.js'
import { randomSecret } from '../helpers/capture.js'
import { SA_EMAIL, start, startFakes, withEnv } from './helpers.js'

test('a 200-secret boot on Secret Manager: every value, one access per secret, no process warning', async (t) => {
  const fakes = await startFakes(t)
  const { world } = fakes
  const warnings: string[] = []
  const onWarning = (w: Error): void => { warnings.push(`${w.name}: ${w.message}`) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  const names = Array.from({ length: 200 }, (_, i) => `many-${i}`)
  const values = names.map((n) => { const v = randomSecret('many'); world.addSecret(`projects/demo-project/secrets/${n}`, [v]); return v })
  world.allowAccess(SA_EMAIL, '*')
  const key = writeServiceAccountKey(world, SA_EMAIL)
  withEnv(t, { GOOGLE_APPLICATION_CREDENTIALS: key.file })
  const secrets = Object.fromEntries(names.map((n, i) => [`s${i}`, n]))
  const { app, error } = await start(t, { provider: 'gcp', secrets, timeoutMs: 15_000 }, { pluginTimeout: 17_000 })
  t.error(error, 'startup succeeds')
  t.same(Object.values(app.secrets), values, 'all 200 values, in order')
  t.equal([...world.counters.access.values()].reduce((a, b) => a + b, 0), 200, 'one AccessSecretVersion per secret')
  await new Promise((resolve) => setImmediate(resolve))
  t.same(warnings, [], 'no process warning (MaxListenersExceededWarning or any other)')
})
