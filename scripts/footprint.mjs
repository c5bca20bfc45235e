#!/usr/bin/env node
// Install footprint of each provider: the transitive closure of its SDK packages, resolved the
// way Node resolves them from the installed node_modules (package.json dependencies and
// optionalDependencies), and the bytes of those package folders (nested node_modules are
// counted as packages of their own). Prints a markdown table; docs/footprint.md holds a copy.
//
//   node scripts/footprint.mjs            # table for the installed tree
//   node scripts/footprint.mjs --json     # the numbers, for tests and CI
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

/** What each provider needs at run time (the npm i command in its SDK_MISSING error). */
export const PROVIDER_PACKAGES = {
  core: ['fastify-plugin'],
  aws: ['@aws-sdk/client-secrets-manager'],
  azure: ['@azure/identity', '@azure/keyvault-secrets'],
  gcp: ['@google-cloud/secret-manager']
}

function readJson (file) {
  return JSON.parse(readFileSync(file, 'utf8'))
}

/** Node's lookup: <dir>/node_modules/<name>, then each parent directory's. */
function resolvePackage (name, fromDir) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name)
    if (existsSync(join(candidate, 'package.json'))) return candidate
    if (dirname(dir) === dir) return undefined
  }
}

/** Bytes of a package folder, without its nested node_modules (those are packages too). */
function folderBytes (dir) {
  let bytes = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' && dir !== root) continue
    const path = join(dir, entry.name)
    if (entry.isDirectory()) bytes += folderBytes(path)
    else bytes += lstatSync(path).size
  }
  return bytes
}

export function closure (roots, base = root) {
  const seen = new Map() // folder → { name, version }
  const missing = new Set()
  const queue = roots.map((name) => [name, base])
  while (queue.length > 0) {
    const [name, from] = queue.shift()
    const dir = resolvePackage(name, from)
    if (dir === undefined) { missing.add(name); continue }
    if (seen.has(dir)) continue
    const pkg = readJson(join(dir, 'package.json'))
    seen.set(dir, { name: pkg.name, version: pkg.version })
    for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) queue.push([dep, dir])
  }
  return { folders: seen, missing: [...missing] }
}

export function footprint () {
  const rows = []
  const all = new Map()
  const core = closure(PROVIDER_PACKAGES.core)
  for (const [provider, roots] of Object.entries(PROVIDER_PACKAGES)) {
    const { folders, missing } = closure(roots)
    let bytes = 0
    for (const [dir, info] of folders) {
      const size = folderBytes(dir)
      bytes += size
      if (provider !== 'core') all.set(dir, { ...info, size })
    }
    const versions = roots.map((name) => [...folders.values()].find((f) => f.name === name)?.version ?? 'missing')
    rows.push({ provider, roots, versions, packages: folders.size, bytes, missing })
  }
  const allBytes = [...all.values()].reduce((sum, p) => sum + p.size, 0)
  rows.push({ provider: 'all three clouds', roots: [], versions: [], packages: all.size, bytes: allBytes, missing: [] })
  return { rows, corePackages: [...core.folders.values()].map((p) => `${p.name}@${p.version}`) }
}

const mb = (bytes) => (bytes / 1024 / 1024).toFixed(1)

export function markdown ({ rows, corePackages }) {
  const lines = [
    '| provider | install | packages | MB on disk |',
    '|---|---|---:|---:|'
  ]
  for (const row of rows) {
    const install = row.roots.length > 0 ? `\`npm i ${row.roots.join(' ')}\`` : '(union, shared packages counted once)'
    const label = row.provider === 'core' ? 'core (every app)' : row.provider
    lines.push(`| ${label} | ${install} | ${row.packages} | ${mb(row.bytes)} |`)
  }
  lines.push('')
  lines.push(`Core runtime dependencies: ${corePackages.join(', ')} (fastify itself is a peer). Each cloud row counts`)
  lines.push('the SDK packages and everything they pull in, as installed in this repository\'s node_modules;')
  lines.push('a provider you do not configure is never imported, so its SDK need not be installed.')
  lines.push(`SDK versions measured: ${rows.filter((r) => r.roots.length > 0 && r.provider !== 'core').map((r) => r.roots.map((n, i) => `${n}@${r.versions[i]}`).join(', ')).join('; ')}.`)
  const missing = rows.flatMap((r) => r.missing)
  if (missing.length > 0) lines.push(`Not installed (not counted): ${[...new Set(missing)].join(', ')}.`)
  return lines.join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = footprint()
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`)
  else process.stdout.write(`${markdown(result)}\n`)
}
