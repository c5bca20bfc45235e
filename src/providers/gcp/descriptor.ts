import { firstSet } from '../../shared/env.js'
import type { ProviderDescriptor } from '../descriptor.js'

/** options.gcp */
export interface GcpOptions {
  /** the default project (env GOOGLE_CLOUD_PROJECT, GCLOUD_PROJECT, GCP_PROJECT); default: looked up from the credentials (slower) */
  projectId?: string
}

export interface GcpSettings {
  readonly projectId?: string
}

const PROJECT_ENV = ['GOOGLE_CLOUD_PROJECT', 'GCLOUD_PROJECT', 'GCP_PROJECT'] as const
const PROJECT = /^(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[a-z0-9.-]+:[a-z][a-z0-9-]{4,28}[a-z0-9]|\d+)$/
const RESOURCE_NAME = /^projects\/([a-z0-9][a-z0-9-]{0,62}|\d+)\/(?:locations\/([a-z0-9-]{1,63})\/)?secrets\/([A-Za-z0-9_-]{1,255})(?:\/versions\/([A-Za-z0-9_-]{1,63}))?$/
const SECRET_ID = /^[A-Za-z0-9_-]{1,255}$/
const VERSION = /^(?:latest|[1-9]\d*|[A-Za-z][A-Za-z0-9_-]{0,62})$/

/** Google Cloud Secret Manager, described to the core (no SDK here). */
export const gcpDescriptor: ProviderDescriptor<'gcp', GcpSettings> = {
  name: 'gcp',
  section: 'gcp',
  envVars: [...PROJECT_ENV],
  platformMarkers: ['K_SERVICE', 'CLOUD_RUN_JOB', 'FUNCTION_TARGET', 'GAE_SERVICE'],
  readSettings ({ env, add, text }) {
    const option = text('projectId')
    const fromEnv = option === undefined ? firstSet(env, ...PROJECT_ENV) : undefined
    const projectId = option ?? fromEnv?.value
    if (projectId !== undefined && !PROJECT.test(projectId)) {
      add(option !== undefined ? 'options.gcp.projectId' : fromEnv?.name ?? PROJECT_ENV[0], `"${projectId.slice(0, 40)}" is not a GCP project id`)
    }
    return { projectId }
  },
  ids: {
    nativePrefixes: ['projects/'],
    resolve ({ id, version }, problem) {
      if (id.startsWith('projects/')) {
        const m = RESOURCE_NAME.exec(id)
        if (m === null) {
          problem('not a Secret Manager resource name (projects/P/secrets/S[/versions/V], or projects/P/locations/L/secrets/S[/versions/V])')
        } else if (m[4] !== undefined) {
          if (version !== undefined && version !== m[4]) problem(`the resource name pins version ${m[4]} and version=${version} disagrees`)
          version = m[4]
          id = id.slice(0, id.lastIndexOf('/versions/'))
        }
      } else if (!SECRET_ID.test(id)) {
        problem('a GCP secret id has 1–255 characters: letters, digits, _ and -')
      }
      if (version !== undefined && !VERSION.test(version)) problem(`version "${version}" is not a version number, "latest" or an alias`)
      return { id, version }
    }
  },
  scopes: true,
  packages: ['@google-cloud/secret-manager'],
  login: 'gcloud auth application-default login'
}
