import { test } from 'tap'
import { parseDuration, readRefresh } from '../../src/refresh/interval.js'
import { MAX_BACKOFF_INTERVALS, RefreshSchedule, seededRandom } from '../../src/refresh/schedule.js'
import { normalizeOptions } from '../../src/options.js'
import type { ConfigProblem } from '../../src/errors.js'
import { ManualClock } from '../helpers/manual-clock.js'

test('durations: milliseconds, or s / m / h; a small bare number is refused, never read as seconds', async (t) => {
  t.same(parseDuration('900000'), { ms: 900_000 })
  t.same(parseDuration('30s'), { ms: 30_000 })
  t.same(parseDuration('15m'), { ms: 900_000 })
  t.same(parseDuration('1h'), { ms: 3_600_000 })
  t.same(parseDuration(' 1500ms '), { ms: 1500 })
  for (const bad of ['15 m', '1.5h', '-5', '5d', 'soon', '']) t.ok('problem' in parseDuration(bad), bad)
  const problems: ConfigProblem[] = []
  t.equal(readRefresh(undefined, '900', (p) => problems.push(p)), undefined)
  t.match(problems[0], { source: 'CLOUD_SECRETS_REFRESH_MS', message: /900 is read as 900 milliseconds; for seconds write 900s/ })
})

test('refresh option: number, string, object with defaults; env; off by default; every problem listed', async (t) => {
  const env = {}
  t.equal(normalizeOptions({ provider: 'local', env }, { pluginTimeout: 10_000 }).refresh, undefined, 'off by default')
  t.match(normalizeOptions({ provider: 'local', env: { CLOUD_SECRETS_REFRESH_MS: '15m' } }, { pluginTimeout: 10_000 }).refresh, { intervalMs: 900_000, jitter: 0.1, staleAfterMs: 2_700_000, source: 'CLOUD_SECRETS_REFRESH_MS' })
  t.match(normalizeOptions({ provider: 'local', refresh: 60_000, env }, { pluginTimeout: 10_000 }).refresh, { intervalMs: 60_000, staleAfterMs: 180_000, source: 'options.refresh' })
  t.match(normalizeOptions({ provider: 'local', refresh: '1h', env: { CLOUD_SECRETS_REFRESH_MS: '5s' } }, { pluginTimeout: 10_000 }).refresh, { intervalMs: 3_600_000 }, 'the option wins over the env var')
  t.match(normalizeOptions({ provider: 'local', refresh: { intervalMs: '30s', jitter: 0.2, staleAfterMs: '5m' }, env }, { pluginTimeout: 10_000 }).refresh, { intervalMs: 30_000, jitter: 0.2, staleAfterMs: 300_000 })
  t.equal(normalizeOptions({ provider: 'local', refresh: false, env }, { pluginTimeout: 10_000 }).refresh, undefined)
  const err = (() => { try { normalizeOptions({ provider: 'local', refresh: { intervalMs: 500, jitter: 2, staleAfterMs: 10, every: 1 } as never, env }, { pluginTimeout: 10_000 }) } catch (e) { return e as { problems: ConfigProblem[] } } })()
  t.same(err?.problems.map((p) => p.source).sort(), ['options.refresh.every', 'options.refresh.intervalMs', 'options.refresh.jitter', 'options.refresh.staleAfterMs'])
})

test('?refresh=off and version pins are parsed onto the reference', async (t) => {
  const config = normalizeOptions({ provider: 'local', secrets: { a: 'a?refresh=off', b: 'b#k?refresh=on&optional', c: 'c' }, env: {} }, { pluginTimeout: 10_000 })
  t.same(config.references.map((r) => [r.alias, r.refresh, r.optional]), [['a', 'off', false], ['b', undefined, true], ['c', undefined, false]])
  t.throws(() => normalizeOptions({ provider: 'local', secrets: { a: 'a?refresh=never' }, env: {} }, { pluginTimeout: 10_000 }), /refresh takes =off/)
})

test('schedule: first cycle in (0, interval], then interval × (1 ± jitter), one timer at a time', async (t) => {
  for (let seed = 1; seed <= 50; seed++) {
    const clock = new ManualClock()
    let runs = 0
    const schedule = new RefreshSchedule({ intervalMs: 10_000, jitter: 0.1, clock, random: seededRandom(seed), run: async () => { runs++; return { backoff: false } } })
    schedule.start()
    schedule.start()
    t.equal(clock.pending, 1, 'start twice arms one timer')
    const first = clock.delays[0]
    if (!(first > 0 && first <= 10_000)) t.fail(`seed ${seed}: first delay ${first}`)
    for (let i = 0; i < 5; i++) {
      clock.fire()
      t.equal(clock.pending, 0, 'no timer while the cycle runs')
      await clock.armed()
    }
    t.equal(runs, 5)
    for (const d of clock.delays.slice(1)) if (!(d >= 9000 && d <= 11_000)) t.fail(`seed ${seed}: delay ${d} outside ±10 %`)
    schedule.stop()
    t.equal(clock.pending, 0, 'stop clears the timer')
  }
  // a fleet started together spreads its first cycles over the interval
  const firsts = Array.from({ length: 200 }, (_, i) => {
    const clock = new ManualClock()
    new RefreshSchedule({ intervalMs: 10_000, jitter: 0.1, clock, random: seededRandom(1000 + i), run: async () => ({ backoff: false }) }).start()
    return clock.delays[0]
  })
  t.ok(Math.min(...firsts) < 1000 && Math.max(...firsts) > 9000, 'first cycles spread over the whole interval')
})

test('schedule: full-jitter backoff grows to 4 intervals, honours Retry-After, resets on success', async (t) => {
  const clock = new ManualClock()
  const schedule = new RefreshSchedule({ intervalMs: 10_000, jitter: 0, clock, random: () => 0.999, run: async () => ({ backoff: false }) })
  const windows = [1, 2, 3, 4, 5].map(() => schedule.delayAfter({ backoff: true }))
  t.same(windows, [19_980, 39_960, 39_960, 39_960, 39_960], 'window 2×, then capped at 4× the interval')
  t.equal(MAX_BACKOFF_INTERVALS, 4)
  t.equal(schedule.delayAfter({ backoff: false }), 10_000, 'success: back to the interval')
  const low = new RefreshSchedule({ intervalMs: 10_000, jitter: 0, clock, random: () => 0, run: async () => ({ backoff: false }) })
  t.equal(low.delayAfter({ backoff: true }), 1000, 'never sooner than 1 s')
  t.equal(low.delayAfter({ backoff: true, retryAfterMs: 30_000 }), 30_000, 'Retry-After wins')
})

test('schedule: a throwing run still re-arms; stop during a cycle arms nothing', async (t) => {
  const clock = new ManualClock()
  let release: () => void = () => {}
  let calls = 0
  const schedule = new RefreshSchedule({
    intervalMs: 5000,
    jitter: 0,
    clock,
    random: () => 0.5,
    run: async () => {
      calls++
      if (calls === 1) throw new Error('boom')
      await new Promise<void>((resolve) => { release = resolve })
      return { backoff: false }
    }
  })
  schedule.start()
  clock.fire()
  await clock.armed()
  clock.fire()
  await new Promise((resolve) => setImmediate(resolve))
  schedule.stop()
  release()
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(clock.pending, 0)
  t.equal(calls, 2)
})

test('fleet cost: the figures behind the README quota table', async (t) => {
  const { fleetCosts, describeFleetCost } = await import('../../src/refresh/cost.js')
  const { azureRefreshCost } = await import('../../src/providers/azure/refresh.js')
  const { awsRefreshCost } = await import('../../src/providers/aws/refresh.js')
  const { gcpRefreshCost } = await import('../../src/providers/gcp/refresh.js')
  const refs = (provider: 'aws' | 'azure' | 'gcp'): Array<{ alias: string, provider: typeof provider, id: string, optional: false, raw: string }> =>
    Array.from({ length: 20 }, (_, i) => ({ alias: `s${i}`, provider, id: `s${i}`, optional: false, raw: `s${i}` }))
  // 1,000 pods × 20 secrets, every minute: one GET each would be 83 % of a vault's quota; the list is 4 %
  const get = fleetCosts([{ store: 'kv', requests: 20, calls: '20 GET', quota: { requests: 4000, perSeconds: 10, name: 'transactions', scope: 'per vault', source: '' } }], 60_000, 1000)[0]
  t.equal(Math.round(get.quotaPercent), 83)
  const list = fleetCosts(azureRefreshCost(refs('azure'), 'https://myvault.vault.azure.net'), 60_000, 1000)[0]
  t.equal(list.requests, 1)
  t.equal(Math.round(list.quotaPercent * 10) / 10, 4.2)
  const every15m = fleetCosts(azureRefreshCost(refs('azure'), 'https://myvault.vault.azure.net'), 900_000, 1000)[0]
  t.equal(Math.round(every15m.quotaPercent * 100) / 100, 0.28)
  t.match(describeFleetCost(every15m), /Key Vault myvault\.vault\.azure\.net: 1 list page .* every 15m → 1,000 instances: 1\.1 requests\/s, 2\.9 M requests\/month, 0\.3 % of 4,000 transactions per 10 s per vault and region/)
  const aws = fleetCosts(awsRefreshCost(refs('aws') as never, 'us-east-1'), 900_000, 1000)[0]
  t.match(aws, { requests: 1, store: 'Secrets Manager us-east-1 (BatchGetSecretValue)' })
  t.equal(Math.round(aws.quotaPercent * 100) / 100, 1.11)
  const gcp = fleetCosts(gcpRefreshCost(refs('gcp') as never, 'demo-project'), 900_000, 1000)[0]
  t.match(gcp, { requests: 20, store: 'Secret Manager project demo-project' })
  t.equal(Math.round(gcp.quotaPercent * 100) / 100, 1.48)
})
