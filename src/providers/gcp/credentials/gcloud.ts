import type { ChildProcess } from 'node:child_process'
import { isDeadlineError } from '../../../errors.js'
import type { Env } from '../../../shared/env.js'
import { runCommand } from '../../../shared/child-process.js'
import type { StepContext } from '../../types.js'

export interface GcloudDeps {
  env: Env
  /** child processes started, so close() can end them */
  children: Set<ChildProcess>
}

/** `gcloud config config-helper --format json` (what google-auth-library runs), bounded and killable. */
export async function gcloudProject (deps: GcloudDeps, ctx: StepContext): Promise<{ id: string, from: string } | undefined> {
  try {
    // the same process-group kill as Azure's az: a hung gcloud (and what it started) dies at the deadline
    const result = await ctx.deadline.run('identity: project id from `gcloud config config-helper`', async (signal) =>
      await runCommand('gcloud', ['config', 'config-helper', '--format', 'json'], { children: deps.children, signal, env: deps.env }))
    if (result.spawnError !== undefined || result.code !== 0) return undefined
    const stdout = result.stdout
    const id = (JSON.parse(stdout) as { configuration?: { properties?: { core?: { project?: unknown } } } }).configuration?.properties?.core?.project
    return typeof id === 'string' && id !== '' ? { id, from: 'gcloud config' } : undefined
  } catch (err) {
    if (isDeadlineError(err)) throw err
    return undefined
  }
}
