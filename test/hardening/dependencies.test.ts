import { readdirSync, readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'tap'
import ts from 'typescript'

// Dependency hygiene: the runtime tree is what the core really needs, the core imports no cloud
// SDK, each cloud folder imports only its own SDK and only lazily, and no audit command is wired
// anywhere (the registry's audit endpoint is unreachable from CI).

const root = fileURLToPath(new URL('../../', import.meta.url))
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, Record<string, string> | undefined>

/** Each cloud folder and the package families it may import (dynamically). */
const CLOUD_SDKS: Record<string, RegExp> = {
  aws: /^@(?:aws-sdk|smithy)\//,
  azure: /^@azure\//,
  gcp: /^(?:@google-cloud\/|google-gax$|google-auth-library$|@grpc\/)/
}
const CORE_PACKAGES = new Set(['fastify', 'fastify-plugin'])

interface ImportSite { file: string, specifier: string, kind: 'static' | 'type' | 'dynamic' }

function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name)
    if (e.isDirectory()) return sourceFiles(path)
    return /\.(?:ts|mts|js|mjs)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [path] : []
  })
}

/** Every module specifier a file names, read with the TypeScript parser (multi-line imports, `import type`, import()). */
function importsOf (file: string): ImportSite[] {
  const text = readFileSync(file, 'utf8')
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true)
  const sites: ImportSite[] = []
  const rel = relative(root, file)
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause
      const typeOnly = clause !== undefined && (clause.isTypeOnly || (clause.name === undefined && clause.namedBindings !== undefined &&
        ts.isNamedImports(clause.namedBindings) && clause.namedBindings.elements.length > 0 && clause.namedBindings.elements.every((e) => e.isTypeOnly)))
      sites.push({ file: rel, specifier: node.moduleSpecifier.text, kind: typeOnly ? 'type' : 'static' })
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)) {
      sites.push({ file: rel, specifier: node.moduleSpecifier.text, kind: node.isTypeOnly ? 'type' : 'static' })
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference) && ts.isStringLiteral(node.moduleReference.expression)) {
      sites.push({ file: rel, specifier: node.moduleReference.expression.text, kind: 'static' })
    } else if (ts.isCallExpression(node)) {
      const callee = node.expression
      const isImport = callee.kind === ts.SyntaxKind.ImportKeyword
      const isImportSdk = ts.isIdentifier(callee) && callee.text === 'importSdk'
      const isRequire = ts.isIdentifier(callee) && callee.text === 'require'
      const arg = isImportSdk ? node.arguments[1] : node.arguments[0]
      if ((isImport || isImportSdk || isRequire) && arg !== undefined && ts.isStringLiteralLike(arg)) {
        sites.push({ file: rel, specifier: arg.text, kind: isRequire ? 'static' : 'dynamic' })
      }
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      sites.push({ file: rel, specifier: node.argument.literal.text, kind: 'type' })
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return sites
}

const isBuiltin = (s: string): boolean => s.startsWith('node:') || builtinModules.includes(s)
const isRelative = (s: string): boolean => s.startsWith('./') || s.startsWith('../')
const packageName = (s: string): string => s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]

test('package.json: the runtime dependencies are exactly what the core imports', async (t) => {
  t.same(Object.keys(pkg.dependencies ?? {}), ['fastify-plugin'], 'dependencies: fastify-plugin only')
  t.same(Object.keys(pkg.optionalDependencies ?? {}), [], 'no optionalDependencies (the SDKs are optional peers)')
  for (const sdk of ['@aws-sdk/client-secrets-manager', '@azure/identity', '@azure/keyvault-secrets', '@google-cloud/secret-manager']) {
    t.ok(pkg.peerDependencies?.[sdk] !== undefined, `${sdk} is a peer`)
    t.equal((pkg.peerDependenciesMeta as unknown as Record<string, { optional?: boolean }> | undefined)?.[sdk]?.optional, true, `${sdk} is optional`)
  }
  t.ok(pkg.peerDependencies?.fastify !== undefined, 'fastify is a peer')

  const used = new Set(sourceFiles(join(root, 'src')).flatMap(importsOf)
    .filter((s) => s.kind !== 'type' && !isRelative(s.specifier) && !isBuiltin(s.specifier)).map((s) => packageName(s.specifier)))
  for (const dep of Object.keys(pkg.dependencies ?? {})) t.ok(used.has(dep), `${dep} is imported by src/ (no unused runtime dependency)`)
})

test('src/ outside the cloud folders imports only node: builtins, fastify and fastify-plugin', async (t) => {
  const cloudDirs = Object.keys(CLOUD_SDKS).map((c) => join('src', 'providers', c))
  const sites = sourceFiles(join(root, 'src')).filter((f) => !cloudDirs.some((d) => relative(root, f).startsWith(d + '/'))).flatMap(importsOf)
  t.ok(sites.length > 20, `the scan saw the core's imports (${sites.length})`)
  const foreign = sites.filter((s) => !isRelative(s.specifier) && !isBuiltin(s.specifier) && !CORE_PACKAGES.has(packageName(s.specifier)))
  t.same(foreign, [], 'no other package (and no cloud SDK) in the core')
})

test('each cloud folder imports its own SDK, and only dynamically', async (t) => {
  for (const [cloud, family] of Object.entries(CLOUD_SDKS)) {
    const dir = join(root, 'src', 'providers', cloud)
    const sites = sourceFiles(dir).flatMap(importsOf)
    const external = sites.filter((s) => !isRelative(s.specifier) && !isBuiltin(s.specifier))
    t.same(external.filter((s) => s.kind === 'static'), [], `${cloud}: no static value import of a package`)
    t.same(external.filter((s) => !family.test(s.specifier) && !CORE_PACKAGES.has(packageName(s.specifier))), [], `${cloud}: no other cloud's SDK or other package`)
    for (const s of sites.filter((x) => isRelative(x.specifier))) {
      const target = join(dir, relative(dir, join(root, s.file, '..', s.specifier)))
      const otherCloud = Object.keys(CLOUD_SDKS).find((c) => c !== cloud && target.includes(join('providers', c)))
      t.equal(otherCloud, undefined, `${s.file} → ${s.specifier} stays out of the other cloud folders`)
    }
  }
})

test('the scan itself recognises every import form', async (t) => {
  const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const dir = mkdtempSync(join(tmpdir(), 'fcs-imports-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'sample.ts')
  writeFileSync(file, [
    "import a from 'pkg-a'", "import type { B } from 'pkg-b'", "import { type C } from 'pkg-c'", "import {\n  d,\n  e\n} from 'pkg-d'",
    "export { f } from 'pkg-f'", "export type { G } from 'pkg-g'", "const h = await import('pkg-h')", "const i = await importSdk('aws', 'pkg-i')",
    "type J = typeof import('pkg-j')", "import 'pkg-k'", "const l = require('pkg-l')"
  ].join('\n'))
  t.same(importsOf(file).map((s) => `${s.specifier}:${s.kind}`), [
    'pkg-a:static', 'pkg-b:type', 'pkg-c:type', 'pkg-d:static', 'pkg-f:static', 'pkg-g:type', 'pkg-h:dynamic', 'pkg-i:dynamic', 'pkg-j:type', 'pkg-k:static', 'pkg-l:static'
  ])
})

test('no audit command in scripts or CI, and the footprint table is current', async (t) => {
  const scripts = Object.values(pkg.scripts ?? {}).join('\n')
  const ci = readFileSync(join(root, '.ci', 'run'), 'utf8')
  t.notMatch(scripts, /\baudit\b/, 'package.json scripts run no audit')
  t.notMatch(ci.replace(/--no-audit/g, ''), /\baudit\b/, '.ci/run runs no audit')
  const { footprint, markdown } = await import('../../scripts/footprint.mjs' as string) as { footprint: () => { rows: Array<{ provider: string, packages: number, bytes: number, missing: string[] }> }, markdown: (r: unknown) => string }
  const result = footprint()
  for (const row of result.rows) {
    t.same(row.missing, [], `${row.provider}: every package of the closure is installed`)
    t.ok(row.packages >= 1 && row.bytes > 0)
  }
  const core = result.rows.find((r) => r.provider === 'core')
  t.equal(core?.packages, 1, 'the core pulls in a single package')
  const doc = readFileSync(join(root, 'docs', 'footprint.md'), 'utf8')
  t.ok(doc.includes(markdown(result).split('\n').slice(0, 7).join('\n')), 'docs/footprint.md holds the current table (re-run node scripts/footprint.mjs)')
})
