import { test } from 'tap'
import { Deadline } from '../../src/deadline.js'
import { CloudSecretsError } from '../../src/errors.js'
import { backoffDelay, createLimiter, DEFAULT_RETRY, networkErrorCode, parseRetryAfter, withRetry } from '../../src/retry.js'

const fast = { ...DEFAULT_RETRY, baseDelayMs: 5, maxDelayMs: 20 }
const throttled = (retryAfterMs?: number): CloudSecretsError => new CloudSecretsError('THROTTLED', 'slow down', { retryable: true, retryAfterMs })
const classifyAll = (err: unknown): CloudSecretsError => new CloudSecretsError('UNAVAILABLE', String((err as Error).message), { retryable: networkErrorCode(err) !== undefined })

test('retries only what is classified retryable, then succeeds', async (t) => {
  const deadline = new Deadline(2000)
  t.teardown(() => deadline.dispose())
  let calls = 0
  const value = await withRetry(deadline, 'step', async () => {
    calls++
    if (calls < 3) throw Object.assign(new Error('reset'), { code: 'ECONNRESET' })
    return 'ok'
  }, classifyAll, fast)
  t.equal(value, 'ok')
  t.equal(calls, 3)

  let denied = 0
  const err = await withRetry(deadline, 'step', async () => { denied++; throw new CloudSecretsError('ACCESS_DENIED', 'no') }, classifyAll, fast).catch((e: unknown) => e) as CloudSecretsError
  t.equal(err.code, 'FST_CLOUD_SECRETS_ACCESS_DENIED')
  t.equal(denied, 1, 'a permanent error is not retried')
})

test('gives up after maxAttempts with the last classified error', async (t) => {
  const deadline = new Deadline(5000)
  t.teardown(() => deadline.dispose())
  let calls = 0
  const err = await withRetry(deadline, 'step', async () => { calls++; throw throttled() }, classifyAll, { ...fast, maxAttempts: 4 }).catch((e: unknown) => e) as CloudSecretsError
  t.equal(calls, 4)
  t.equal(err.code, 'FST_CLOUD_SECRETS_THROTTLED')
})

test('a Retry-After beyond the deadline ends with THROTTLED at once, not a timeout', async (t) => {
  const deadline = new Deadline(1000)
  t.teardown(() => deadline.dispose())
  let calls = 0
  const started = Date.now()
  const err = await withRetry(deadline, 'step', async () => { calls++; throw throttled(30_000) }, classifyAll, fast).catch((e: unknown) => e) as CloudSecretsError
  t.equal(calls, 1)
  t.equal(err.code, 'FST_CLOUD_SECRETS_THROTTLED')
  t.match(err.message, /retry after 30 s, beyond the remaining startup deadline/)
  t.ok(Date.now() - started < 500, 'did not wait for the deadline')
})

test('a Retry-After inside the deadline is honoured', async (t) => {
  const deadline = new Deadline(3000)
  t.teardown(() => deadline.dispose())
  const times: number[] = []
  await withRetry(deadline, 'step', async () => {
    times.push(Date.now())
    if (times.length === 1) throw throttled(300)
    return 1
  }, classifyAll, { ...fast, random: () => 0 })
  t.ok(times[1] - times[0] >= 290, `waited for Retry-After (${times[1] - times[0]} ms)`)
})

test('the deadline rejects a hung attempt with TIMEOUT naming it', async (t) => {
  const deadline = new Deadline(100)
  t.teardown(() => deadline.dispose())
  const err = await withRetry(deadline, 'identity: hung endpoint', async () => await new Promise(() => {}), classifyAll, fast).catch((e: unknown) => e) as CloudSecretsError
  t.equal(err.code, 'FST_CLOUD_SECRETS_TIMEOUT')
  t.same(err.pending, ['identity: hung endpoint'])
  t.ok(deadline.signal.aborted, 'the signal handed to SDK calls is aborted')
  const again = await deadline.run('later', async () => 1).catch((e: unknown) => e) as CloudSecretsError
  t.equal(again.code, 'FST_CLOUD_SECRETS_TIMEOUT', 'nothing starts after the deadline')
  await t.rejects(deadline.sleep(10), { code: 'FST_CLOUD_SECRETS_TIMEOUT' })
})

test('a timeout lists failures recorded before it', async (t) => {
  const deadline = new Deadline(50)
  t.teardown(() => deadline.dispose())
  deadline.recordFailure(new CloudSecretsError('NOT_FOUND', 'secret x is missing', { alias: 'x', provider: 'aws' }))
  const err = await deadline.run('secret "y"', async () => await new Promise(() => {})).catch((e: unknown) => e) as CloudSecretsError
  t.match(err.message, /still pending: secret "y"\nAlready failed:\n {2}- x \(aws\) FST_CLOUD_SECRETS_NOT_FOUND: secret x is missing/)
  t.equal(err.errors?.length, 1)
})

test('backoff: full jitter under an exponential cap; Retry-After wins', (t) => {
  for (let attempt = 0; attempt < 8; attempt++) {
    const max = Math.min(DEFAULT_RETRY.maxDelayMs, DEFAULT_RETRY.baseDelayMs * 2 ** attempt)
    t.ok(backoffDelay(attempt, { ...DEFAULT_RETRY, random: () => 0.999 }) < max)
    t.equal(backoffDelay(attempt, { ...DEFAULT_RETRY, random: () => 0 }), 0)
  }
  t.equal(backoffDelay(0, { ...DEFAULT_RETRY, random: () => 0 }, 1500), 1500)
  t.end()
})

test('createLimiter never runs more than the limit at once', async (t) => {
  const limit = createLimiter(3)
  let active = 0
  let peak = 0
  await Promise.all(Array.from({ length: 20 }, async (_, i) => await limit(async () => {
    active++
    peak = Math.max(peak, active)
    await new Promise((resolve) => setTimeout(resolve, 2 + (i % 3)))
    active--
  })))
  t.equal(peak, 3)
})

test('parseRetryAfter and networkErrorCode', (t) => {
  t.equal(parseRetryAfter('2'), 2000)
  t.equal(parseRetryAfter('0.5'), 500)
  t.equal(parseRetryAfter(undefined), undefined)
  t.equal(parseRetryAfter('soon'), undefined)
  const now = Date.parse('2026-01-01T00:00:00Z')
  t.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:03 GMT', now), 3000)
  t.equal(networkErrorCode(new Error('x', { cause: Object.assign(new Error('y'), { code: 'ECONNREFUSED' }) })), 'ECONNREFUSED')
  t.equal(networkErrorCode(new Error('plain')), undefined)
  t.end()
})
