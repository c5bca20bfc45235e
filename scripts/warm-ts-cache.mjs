// Fills the transpile cache of test/helpers/ts-hooks.mjs with every .ts file the tests can load
// (src, test, bench), in this one process, so the test processes that tap starts side by side
// read it instead of each loading TypeScript and transpiling the same sources.
import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { output } from '../test/helpers/ts-hooks.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
let n = 0
for (const dir of ['src', 'test', 'bench']) {
  for (const entry of readdirSync(`${root}${dir}`, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/\.m?ts$/.test(entry.name) || entry.name.endsWith('.d.ts')) continue
    output(`${entry.parentPath}/${entry.name}`)
    n++
  }
}
console.log(`transpile cache: ${n} files`)
