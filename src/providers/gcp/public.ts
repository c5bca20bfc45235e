import type { SecretManagerServiceClient } from '@google-cloud/secret-manager'
import type { Identity } from '../../types.js'

// The types of `app.cloud.gcp`, published through `fastify-cloud-secrets/gcp`: they name only the
// package a GCP user installs (@google-cloud/secret-manager); GoogleAuth is the class its client
// carries (google-gax's, reached through that package's own types).

/** The GoogleAuth of google-gax, as the Secret Manager client types it. */
export type GoogleAuth = SecretManagerServiceClient['auth']

/** A Google Cloud client constructor (Storage, PubSub, Firestore, any GAPIC client…). */
export type GoogleClientConstructor<T> = new (options?: any) => T

/** What the app gets on `app.cloud.gcp` / `request.cloud.gcp`. */
export interface GcpClients {
  /** the one GoogleAuth (google-auth-library, as bundled with google-gax) every client shares */
  readonly auth: GoogleAuth
  /** the default project (configuration, key file, metadata server or gcloud) */
  readonly projectId: string | undefined
  /** Secret Manager client on secretmanager.googleapis.com */
  readonly secretManager: SecretManagerServiceClient
  /** a cloud-platform access token of the app's identity (cached and refreshed by google-auth-library) */
  getAccessToken: () => Promise<string>
  /**
   * Builds any Google Cloud client with the same auth and project, once per constructor
   * and options (a call with other options gets its own client); the plugin closes them on app close.
   */
  client: <T extends object>(Ctor: GoogleClientConstructor<T>, options?: Record<string, unknown>) => T
  readonly identity: Identity
}
