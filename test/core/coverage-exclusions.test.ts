import { test } from 'tap'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

// c8 counts every file under src/ (`all: true`), so a module TypeScript erases entirely (types,
// interfaces, `declare module`) shows as 0 % covered. .c8rc.json excludes those by name; this
// keeps the list honest: each excluded source must compile to an empty module, so no runtime
// line can hide from the coverage gate behind it.
const root = fileURLToPath(new URL('../..', import.meta.url))
const config = JSON.parse(readFileSync(`${root}.c8rc.json`, 'utf8')) as { exclude: string[] }

test('every src file excluded from coverage compiles to no runtime code', async (t) => {
  const files = config.exclude.filter((e) => e.startsWith('src/') && !e.includes('*'))
  t.ok(files.length > 0)
  for (const file of files) {
    const output = ts.transpileModule(readFileSync(`${root}${file}`, 'utf8'), { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, removeComments: true } }).outputText
    t.equal(output.replace(/\/\/# sourceMappingURL=.*$/m, '').trim(), 'export {};', `${file} has no runtime code`)
  }
})
