// Runs npm scripts at the same time and reports them one after another: `npm test` lints while it
// builds and type checks (tsc and eslint use one core each). `a+b` runs a, then b if a passed (the
// type check reads dist/, which the build writes). Each output is printed whole when its script
// ends; the exit code is non-zero if any failed.
import { spawn } from 'node:child_process'

const names = process.argv.slice(2)
const npm = process.env.npm_execpath !== undefined ? [process.execPath, process.env.npm_execpath] : ['npm']

async function chain (group) {
  for (const name of group.split('+')) if (!await run(name)) return false
  return true
}

const run = async (name) => await new Promise((resolve) => {
  const started = Date.now()
  const child = spawn(npm[0], [...npm.slice(1), 'run', '--silent', name], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => { output += d })
  child.stderr.on('data', (d) => { output += d })
  child.on('error', (err) => { output += `${err.message}\n` })
  child.on('close', (code, signal) => {
    const ok = code === 0
    process.stdout.write(`> ${name}: ${ok ? 'ok' : `FAILED (${signal ?? `exit ${code}`})`} in ${((Date.now() - started) / 1000).toFixed(1)} s\n${output}`)
    resolve(ok)
  })
})

const results = await Promise.all(names.map(chain))
if (results.includes(false)) process.exitCode = 1
