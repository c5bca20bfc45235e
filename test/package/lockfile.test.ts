import { test } from 'tap'
import { readFileSync } from 'node:fs'
// @ts-expect-error plain JS script
import { missingOptional } from '../../scripts/lockfile-optional-stubs.mjs'

test('package-lock.json names every optional dependency, so `npm ci` accepts it', (t) => {
  const lock = JSON.parse(readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8')) as unknown
  const missing = (missingOptional as (l: unknown) => Array<{ name: string }>)(lock)
  t.same(missing.map((m) => m.name), [], 'run `node scripts/lockfile-optional-stubs.mjs` after npm install rewrites the lock')
  t.end()
})
