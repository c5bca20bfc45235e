import * as grpc from '@grpc/grpc-js'
import { test } from 'tap'
import { createSecretReader } from '../../src/providers/gcp/reader.js'
import { GLOBAL_ENDPOINT } from '../../src/providers/gcp/secrets.js'
import { startFakes } from './helpers.js'

// The startup reader (src/providers/gcp/reader.ts) against the Secret Manager fake under its
// production host name: a value over the real wire, and close() ends a call the store never answers.

test('reads a version over the real wire; close() cancels a call still waiting, long before its own deadline', async (t) => {
  const fakes = await startFakes(t)
  fakes.world.addSecret('projects/demo-project/secrets/db', 'reader-value')
  fakes.world.allowAccess(fakes.world.metadataIdentity.email, 'projects/demo-project/secrets/db')
  const { token } = fakes.world.issueToken(fakes.world.metadataIdentity.email)
  const reader = createSecretReader(grpc, () => async () => ({ authorization: `Bearer ${token}` }))
  t.teardown(() => { reader.close() })

  const read = await reader.access(GLOBAL_ENDPOINT, 'projects/demo-project/secrets/db/versions/latest', 10_000)
  t.equal(Buffer.from(read.payload?.data ?? []).toString(), 'reader-value')
  t.match(read.name, /^projects\/\d+\/secrets\/db\/versions\/\d+$/)
  t.match(read.payload?.dataCrc32c, /^\d+$/)

  fakes.world.faults.secretManager.hang = true
  const started = Date.now()
  const pending = reader.access(GLOBAL_ENDPOINT, 'projects/demo-project/secrets/db/versions/latest', 60_000)
  setTimeout(() => { reader.close() }, 200)
  const err = await pending.catch((e: unknown) => e) as { code?: number }
  t.equal(err.code, grpc.status.CANCELLED, 'cancelled by close()')
  t.ok(Date.now() - started < 30_000, 'not at its 60 s deadline')
})
