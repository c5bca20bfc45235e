// Module hooks that let Node run the TypeScript tests and sources as they are (test/helpers/ts-loader.mjs
// registers them; .taprc preloads it in place of tap's ts-node plugin). TypeScript only strips types
// here (`transpileModule`, the compiler options of tsconfig.json); the type check is `npm run
// typecheck`. Each output is cached under node_modules/.cache by a hash of the source, so the 60-odd
// test processes transpile a source file once between them instead of once each, and none of them
// loads the compiler when `npm test` has filled the cache first (scripts/warm-ts-cache.mjs).
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))
const cacheDir = `${root}node_modules/.cache/fcs-ts/`
// what the output depends on besides the source: the compiler's version and tsconfig.json
const salt = readFileSync(`${root}node_modules/typescript/package.json`, 'utf8') + readFileSync(`${root}tsconfig.json`, 'utf8')
let compiler

function transpile (source, file) {
  if (compiler === undefined) {
    const ts = createRequire(import.meta.url)('typescript')
    const config = ts.readConfigFile(`${root}tsconfig.json`, ts.sys.readFile).config
    const { options } = ts.convertCompilerOptionsFromJson({ ...config.compilerOptions, noEmit: false, declaration: false, declarationMap: false, sourceMap: false }, root)
    compiler = { ts, options: { ...options, module: ts.ModuleKind.ESNext, inlineSourceMap: true, inlineSources: true } }
  }
  return compiler.ts.transpileModule(source, { fileName: file, compilerOptions: compiler.options }).outputText
}

function isTs (url) {
  return url !== undefined && url.startsWith('file:') && /\.m?ts$/.test(new URL(url).pathname)
}

export async function resolve (specifier, context, next) {
  try {
    return await next(specifier, context)
  } catch (err) {
    // `import './x.js'` in a .ts file means ./x.ts (TypeScript's NodeNext rule)
    if (err?.code === 'ERR_MODULE_NOT_FOUND' && specifier.endsWith('.js') && isTs(context.parentURL)) {
      return next(`${specifier.slice(0, -3)}.ts`, context)
    }
    throw err
  }
}

export async function load (url, context, next) {
  if (!isTs(url)) return next(url, context)
  return { format: 'module', source: output(fileURLToPath(url)), shortCircuit: true } // a query (`?copy=1`: a second copy of a module) is not part of the path
}

/** The JavaScript for a .ts file: from the cache, or transpiled and cached. */
export function output (file) {
  const source = readFileSync(file, 'utf8')
  const key = createHash('sha256').update(salt).update('\0').update(file).update('\0').update(source).digest('hex').slice(0, 32)
  const cached = `${cacheDir}${key}.js`
  try {
    return readFileSync(cached, 'utf8')
  } catch {
    const js = transpile(source, file)
    mkdirSync(cacheDir, { recursive: true })
    const temp = `${cached}.${process.pid}.tmp`
    writeFileSync(temp, js)
    renameSync(temp, cached) // atomic: a process reading at the same time sees all of it or none
    return js
  }
}
