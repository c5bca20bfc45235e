import { readFileSync } from 'node:fs'
import { test } from 'tap'
import { ERROR_CATALOG } from '../../src/errors.js'
import type { ProviderName } from '../../src/provider-name.js'
import { DESCRIPTORS, DESCRIPTORS_IN_OPTIONS_ORDER, PROVIDER_NAMES, REGISTRY, type ProviderOptions } from '../../src/providers/registry.js'

type SameKeys<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false

// The registry is the one place that lists the stores; the core reads their descriptors only.

test('every store has one descriptor under its own name, with its own options section', (t) => {
  t.same(PROVIDER_NAMES, ['aws', 'gcp', 'azure', 'local'], 'the order users see the stores named')
  t.same(DESCRIPTORS_IN_OPTIONS_ORDER.map((d) => d.section), ['aws', 'azure', 'gcp', 'local'], 'the order of the options')
  for (const [name, entry] of Object.entries(REGISTRY)) {
    t.equal(entry.descriptor.name, name, `${name}: registered under its own name`)
    t.equal(typeof entry.load, 'function', `${name}: its code is loaded lazily`)
  }
  t.equal(new Set(DESCRIPTORS.map((d) => d.section)).size, DESCRIPTORS.length, 'no two stores share an options section')
  const markers = DESCRIPTORS.flatMap((d) => d.platformMarkers)
  t.equal(new Set(markers).size, markers.length, 'no platform marker names two stores')
  // the three places a store is named agree: REGISTRY's `satisfies` checks its keys against the
  // ProviderName union at compile time, and this (a type error otherwise) checks ProviderOptions
  const sameNames: SameKeys<keyof ProviderOptions, ProviderName> = true
  t.ok(sameNames, 'ProviderOptions has a section for every store, and only those (checked by tsc)')
  t.end()
})

test('the SDK packages the descriptors name are exactly the optional peer dependencies', (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { peerDependenciesMeta: Record<string, { optional?: boolean }> }
  const optional = Object.entries(pkg.peerDependenciesMeta).filter(([, meta]) => meta.optional === true).map(([name]) => name)
  t.same(DESCRIPTORS.flatMap((d) => d.packages).sort(), optional.sort())
  t.end()
})

test('the NO_CREDENTIALS fix lists each store\'s local login, from its descriptor', (t) => {
  for (const d of DESCRIPTORS) if (d.login !== undefined) t.ok(ERROR_CATALOG.NO_CREDENTIALS.fix.includes(d.login), `${d.name}: ${d.login}`)
  t.equal(ERROR_CATALOG.NO_CREDENTIALS.fix, 'attach an identity to the workload, or log in locally (aws sso login / gcloud auth application-default login / az login)', 'the same text as before the descriptors')
  t.end()
})
