import { test } from 'tap'
import { sdkLogEntry, sdkLogger } from '../../src/providers/aws/sdk-logger.js'
import { startAwsFakes } from '../fakes/aws/index.js'
import { randomSecret } from '../helpers/capture.js'
import { setEnv } from './helpers.js'

// Issue 12 item 2: the SDK's logger middleware hands the logger an object; it was logged as
// "aws sdk: [object Object]". Only client, command and the error's name/status are kept. The
// plugin's own startup calls no longer go through an SDK client (wire.ts); the SDK clients it
// still builds (inside the SSO / web-identity credential sources) get this logger, so it is
// driven here by a real SDK client against the fake.

test('a failed SDK call is logged with client, command and error name — never its input', async (t) => {
  const fakes = await startAwsFakes()
  t.teardown(async () => { await fakes.close() })
  const id = `logged/${randomSecret('id')}`
  const keys = fakes.world.issue('arn:aws:iam::123456789012:user/app', [], { session: false })
  setEnv(t, { ...fakes.env })
  const lines: Array<Record<string, unknown> & { msg: string }> = []
  const log = { warn: (fields: Record<string, unknown>, msg: string, ...args: unknown[]) => { lines.push({ ...fields, msg: msg.replace('%s', String(args[0])) }) } }
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager')
  const client = new SecretsManagerClient({ region: fakes.world.region, credentials: { accessKeyId: keys.accessKeyId, secretAccessKey: keys.secretAccessKey }, maxAttempts: 1, logger: sdkLogger(log as never) })
  t.teardown(() => { client.destroy() })
  const error = await client.send(new GetSecretValueCommand({ SecretId: id })).catch((e: Error) => e)
  t.equal((error as Error).name, 'AccessDeniedException', 'the denied read fails')
  const sdkLines = lines.filter((r) => String(r.msg).startsWith('aws sdk:'))
  t.ok(sdkLines.length >= 1, 'the SDK logged the failed call')
  for (const line of sdkLines) {
    t.notMatch(String(line.msg), '[object Object]')
    t.notMatch(JSON.stringify(line), id, 'the input (secret id) is not logged')
  }
  t.ok(sdkLines.some((l) => l.command === 'GetSecretValueCommand' && l.error === 'AccessDeniedException'), JSON.stringify(sdkLines[0]))
})

test('sdkLogEntry: strings pass as their first line, objects keep only safe fields', async (t) => {
  t.same(sdkLogEntry('a warning\nsecond line'), { text: 'a warning', fields: {} })
  const entry = sdkLogEntry({ clientName: 'SecretsManagerClient', commandName: 'PutSecretValueCommand', input: { SecretString: 'VALUE-123' }, error: { name: 'ThrottlingException', message: 'quoted VALUE-123' }, metadata: { httpStatusCode: 400, requestId: 'r-1' } })
  t.same(entry.fields, { client: 'SecretsManagerClient', command: 'PutSecretValueCommand', error: 'ThrottlingException', httpStatusCode: 400, requestId: 'r-1' })
  t.equal(entry.text, 'SecretsManagerClient PutSecretValueCommand failed: ThrottlingException (HTTP 400)')
  t.notMatch(JSON.stringify(entry), 'VALUE-123')
})
