// npm (11.x) leaves out of package-lock.json the optional platform packages that the registry
// reachable here does not serve (e.g. @unrs/resolver-binding-darwin-arm64, pulled in by the
// linter), and then `npm ci` refuses the lock as out of sync. This adds a stub entry for each
// missing optional dependency, with the os/cpu/libc its name encodes, so `npm ci` skips it on
// other platforms. Run after any `npm install` that rewrites the lock:
//   node scripts/lockfile-optional-stubs.mjs
// test/package/lockfile.test.ts fails when the lock needs it.
import { readFileSync, writeFileSync } from 'node:fs'

const file = new URL('../package-lock.json', import.meta.url)

export function missingOptional (lock) {
  const packages = lock.packages
  const missing = []
  for (const [path, entry] of Object.entries(packages)) {
    for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
      const nested = `${path}/node_modules/${name}`
      if (packages[nested] === undefined && packages[`node_modules/${name}`] === undefined) missing.push({ name, version })
    }
  }
  return missing
}

function stub (name, version) {
  const entry = { version, dev: true, license: 'MIT', optional: true }
  const m = /-(android|darwin|freebsd|linux|openharmony|win32)-(arm64|arm|x64|ia32|loong64|ppc64|riscv64|s390x)(?:-(\w+))?$/.exec(name)
  if (m !== null) {
    entry.os = [m[1]]
    entry.cpu = [m[2]]
    if (m[1] === 'linux') entry.libc = [/musl/.test(m[3] ?? '') ? 'musl' : 'glibc']
  }
  return entry
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const lock = JSON.parse(readFileSync(file, 'utf8'))
  const missing = missingOptional(lock)
  for (const { name, version } of missing) lock.packages[`node_modules/${name}`] = stub(name, version)
  lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
  writeFileSync(file, JSON.stringify(lock, null, 2) + '\n')
  console.log(`added ${missing.length} stub entr${missing.length === 1 ? 'y' : 'ies'}`)
}
