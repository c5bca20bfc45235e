import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface FakeCliBehaviour {
  /** printed on stdout, exit 0 */
  stdout?: string
  /** printed on stderr, exit `exit` (default 1) */
  stderr?: string
  exit?: number
  /** never answers; also starts a grandchild that would outlive a naive kill */
  hang?: boolean
}

/**
 * Writes a fake `az` / `azd` (sh script) into a fresh temp dir; put the dir first on PATH.
 * Every call appends its arguments to `calls` (one line each) for assertions.
 */
export function fakeCli (name: 'az' | 'azd', behaviour: FakeCliBehaviour): { dir: string, callsFile: string, pidFile: string } {
  const dir = mkdtempSync(join(tmpdir(), `fcs-fake-${name}-`))
  const callsFile = join(dir, 'calls')
  const pidFile = join(dir, 'pids')
  writeFileSync(callsFile, '')
  const out = join(dir, 'stdout')
  const err = join(dir, 'stderr')
  writeFileSync(out, behaviour.stdout ?? '')
  writeFileSync(err, behaviour.stderr ?? '')
  const lines = ['#!/bin/sh', `echo "$*" >> '${callsFile}'`]
  if (behaviour.hang === true) {
    lines.push(`sleep 600 & echo $! >> '${pidFile}'`, `echo $$ >> '${pidFile}'`, 'wait')
  } else if (behaviour.stdout !== undefined) {
    lines.push(`cat '${out}'`, 'exit 0')
  } else {
    lines.push(`cat '${err}' >&2`, `exit ${behaviour.exit ?? 1}`)
  }
  writeFileSync(join(dir, name), lines.join('\n') + '\n')
  chmodSync(join(dir, name), 0o755)
  return { dir, callsFile, pidFile }
}

/** `az account get-access-token --output json` output for a token */
export function azTokenOutput (token: string, exp: number, tenant: string): string {
  return JSON.stringify({ accessToken: token, expiresOn: new Date(exp * 1000).toISOString().replace('T', ' ').slice(0, 19) + '.000000', expires_on: exp, subscription: '00000000-0000-0000-0000-000000000000', tenant, tokenType: 'Bearer' }, null, 2)
}

/** `azd auth token --output json` output */
export function azdTokenOutput (token: string, exp: number): string {
  return JSON.stringify({ token, expiresOn: new Date(exp * 1000).toISOString() })
}
