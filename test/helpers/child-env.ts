// How a test starts a node child process that runs the built dist/ (or the packed package), never
// the TypeScript sources. Two things it would inherit from a tap test process cost time and serve
// nothing:
// - tap's process-info loader (`--import=…@tapjs/processinfo…`), which tap's spawn hook adds to
//   NODE_OPTIONS of every child whatever env the test passes: it routes every module load through
//   a loader thread for tap's own coverage, which is off (.taprc), and costs ~1–2 s of CPU per
//   child that loads a cloud SDK (~0.6 s without it). `/usr/bin/env NODE_OPTIONS=… node …`
//   sets the child's NODE_OPTIONS after that hook has run;
// - NODE_V8_COVERAGE (set by c8): the child writes a V8 profile of every script it ran at exit,
//   ~0.5 s for an SDK, and c8 ignores it (it measures src/**; dist/ has no source maps).
// The loopback guard stays in NODE_OPTIONS: every child is still held to 127.0.0.1. `env` execs
// node in place, so the pid, exit code and signals are node's own.

import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams, type ExecFileSyncOptionsWithStringEncoding, type SpawnOptions, type SpawnSyncOptionsWithStringEncoding, type SpawnSyncReturns } from 'node:child_process'

export function distChildEnv (...layers: Array<Record<string, string | undefined> | NodeJS.ProcessEnv>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const layer of [process.env, ...layers]) {
    for (const [name, value] of Object.entries(layer)) {
      if (value === undefined) delete env[name]
      else env[name] = value
    }
  }
  env.NODE_OPTIONS = cleanNodeOptions(env.NODE_OPTIONS)
  delete env.NODE_V8_COVERAGE
  return env
}

function cleanNodeOptions (options: string | undefined): string {
  return (options ?? '').split(/\s+/).filter((o) => o !== '' && !o.includes('@tapjs/processinfo')).join(' ')
}

/** `[command, args]` that run `node …args` with `env`'s NODE_OPTIONS as given (see above). */
export function nodeCommand (args: readonly string[], env: NodeJS.ProcessEnv): [string, string[]] {
  if (process.platform === 'win32') return [process.execPath, [...args]]
  return ['/usr/bin/env', [`NODE_OPTIONS=${cleanNodeOptions(env.NODE_OPTIONS)}`, process.execPath, ...args]]
}

/** spawn(process.execPath, args, options) through nodeCommand. */
export function spawnNode (args: readonly string[], options: SpawnOptions & { env: NodeJS.ProcessEnv }): ChildProcessWithoutNullStreams {
  const [command, argv] = nodeCommand(args, options.env)
  return spawn(command, argv, options) as ChildProcessWithoutNullStreams
}

/** spawnSync(process.execPath, args, options) through nodeCommand. */
export function spawnNodeSync (args: readonly string[], options: SpawnSyncOptionsWithStringEncoding & { env: NodeJS.ProcessEnv }): SpawnSyncReturns<string> {
  const [command, argv] = nodeCommand(args, options.env)
  return spawnSync(command, argv, options)
}

/** execFileSync(process.execPath, args, options) through nodeCommand. */
export function execNodeSync (args: readonly string[], options: ExecFileSyncOptionsWithStringEncoding & { env: NodeJS.ProcessEnv }): string {
  const [command, argv] = nodeCommand(args, options.env)
  return execFileSync(command, argv, options)
}
