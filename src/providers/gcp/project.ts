import type { Logger } from '../../types.js'
import type { StepContext } from '../types.js'
import { gcloudProject, type GcloudDeps } from './credentials/gcloud.js'
import type { FoundCredential } from './credentials/discovery.js'
import type { MetadataCredential } from './credentials/metadata.js'
import { classifyTokenError, endpointOf } from './errors.js'

export interface ProjectDeps extends GcloudDeps {
  /** config.gcp.projectId (option or GOOGLE_CLOUD_PROJECT / GCLOUD_PROJECT / GCP_PROJECT) */
  configuredProject?: string
  log: Logger
}

/**
 * The default project: config (option / GOOGLE_CLOUD_PROJECT / GCLOUD_PROJECT / GCP_PROJECT) →
 * the key file's project_id → the metadata server → gcloud's configured project. The last two
 * are slow and are logged at warn with the setting that skips them.
 */
export async function resolveProjectId (deps: ProjectDeps, credential: FoundCredential, metadata: MetadataCredential | undefined, ctx: StepContext): Promise<{ id: string, from: string } | undefined> {
  if (deps.configuredProject !== undefined) return { id: deps.configuredProject, from: 'configuration' }
  if (credential.kind === 'file') {
    if (typeof credential.json.project_id === 'string' && credential.json.project_id !== '') return { id: credential.json.project_id, from: `project_id of ${credential.file}` }
  }
  let found: { id: string, from: string } | undefined
  if (metadata !== undefined) {
    const id = await ctx.retry(`identity: metadata server ${metadata.baseUrl} (project/project-id)`, async () => await metadata.metadata('project/project-id'),
      (err) => classifyTokenError(err, { what: 'the project id', source: 'gcp:metadata', endpoint: endpointOf(err, `${metadata.baseUrl}/computeMetadata/v1/project/project-id`) }))
    if (id !== '') found = { id, from: `metadata server ${metadata.baseUrl}` }
  }
  found ??= await gcloudProject(deps, ctx)
  if (found !== undefined) {
    deps.log.warn({ projectId: found.id, from: found.from }, 'the GCP project id was looked up through %s (slow); set GOOGLE_CLOUD_PROJECT=%s to skip the lookup', found.from, found.id)
  } else {
    deps.log.debug('no default GCP project (set GOOGLE_CLOUD_PROJECT); short secret ids cannot be used')
  }
  return found
}
