#!/usr/bin/env node
// Import cycles among the project's own modules: follows every relative `import … from './x.js'`,
// `export … from` and `import type` edge under a folder (default src/) and prints each strongly
// connected group of files that import each other, type-only edges included (a type-only cycle is
// still two files that cannot be read one before the other). Exits 1 when there is a cycle.
// A lazy `import('./x.js')` is not followed unless --dynamic is given: the registry loads each
// store's code that way, after the core is fully loaded, and that store code uses the core (its
// errors, its types) — the one designed edge back, which makes no load-order knot.
//
//   node scripts/import-cycles.mjs [--dynamic] [folder]

import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

const args = process.argv.slice(2)
const dynamic = args.includes('--dynamic')
const root = resolve(args.find((a) => !a.startsWith('--')) ?? 'src')
const EDGE = dynamic
  ? /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm
  : /(?:\bfrom\s*|^\s*import\s+)['"](\.{1,2}\/[^'"]+)['"]/gm

function sources (dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sources(path)
    return /\.(?:ts|mts|cts)$/.test(name) && !name.endsWith('.d.ts') ? [path] : []
  })
}

/** `./x.js` written in a .ts file names x.ts (or x/index.ts). */
function target (from, specifier, known) {
  const base = resolve(dirname(from), specifier)
  const stem = base.replace(/\.(?:m|c)?js$/, '')
  return [`${stem}.ts`, `${stem}.mts`, `${stem}.cts`, join(base, 'index.ts')].find((p) => known.has(p))
}

const files = sources(root)
const known = new Set(files)
const edges = new Map(files.map((file) => {
  const text = readFileSync(file, 'utf8')
  const out = new Set()
  for (const m of text.matchAll(EDGE)) {
    const to = target(file, m[1], known)
    if (to !== undefined) out.add(to)
  }
  return [file, [...out]]
}))

// Tarjan's strongly connected components
let index = 0
const stack = []
const state = new Map()
const groups = []
function visit (v) {
  state.set(v, { index, low: index, onStack: true })
  index++
  stack.push(v)
  for (const w of edges.get(v)) {
    if (!state.has(w)) {
      visit(w)
      state.get(v).low = Math.min(state.get(v).low, state.get(w).low)
    } else if (state.get(w).onStack) {
      state.get(v).low = Math.min(state.get(v).low, state.get(w).index)
    }
  }
  if (state.get(v).low === state.get(v).index) {
    const group = []
    let w
    do {
      w = stack.pop()
      state.get(w).onStack = false
      group.push(w)
    } while (w !== v)
    if (group.length > 1 || edges.get(v).includes(v)) groups.push(group)
  }
}
for (const file of files) if (!state.has(file)) visit(file)

const name = (file) => relative(process.cwd(), file)
const edgeCount = [...edges.values()].reduce((n, list) => n + list.length, 0)
if (groups.length === 0) {
  console.log(`no import cycle among ${files.length} files (${edgeCount} edges) under ${name(root) || '.'}`)
} else {
  console.log(`${groups.length} import cycle group(s) among ${files.length} files under ${name(root) || '.'}:`)
  for (const group of groups) {
    const members = new Set(group)
    console.log(`- ${group.map(name).sort().join(', ')}`)
    for (const file of [...group].sort()) {
      for (const to of edges.get(file)) if (members.has(to)) console.log(`    ${name(file)} -> ${name(to)}`)
    }
  }
  process.exitCode = 1
}
