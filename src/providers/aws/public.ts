import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager'
import type { Identity } from '../../types.js'

// The types of `app.cloud.aws`, published through `fastify-cloud-secrets/aws`: they name only
// the package an AWS user installs (@aws-sdk/client-secrets-manager) and structural shapes.

/** AWS credentials as the SDK's chain returns them (structurally the SDK's AwsCredentialIdentity). */
export interface AwsCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken?: string
  readonly credentialScope?: string
  readonly accountId?: string
  readonly expiration?: Date
}

/** A credential provider function, what every SDK v3 client takes as `credentials`. */
export type AwsCredentialsProvider = (options?: Record<string, unknown>) => Promise<AwsCredentials>

/** Any AWS SDK v3 client: built from a config, destroyed on close. */
export interface AwsSdkClient {
  destroy: () => void
}

export type AwsClientConstructor<C extends AwsSdkClient> = new (config: any) => C

/** What `app.cloud.aws` and `request.cloud.aws` hold. */
export interface AwsClients {
  /** the SDK's default Node credential chain, resolved at startup (refreshes itself) */
  readonly credentials: AwsCredentialsProvider
  readonly region: string
  /** a Secrets Manager client with this identity and region (SDK default retries) */
  readonly secretsManager: SecretsManagerClient
  readonly identity: Identity
  /**
   * Any SDK v3 client with the same credentials and region, memoised per constructor (and per
   * extra config), destroyed when the app closes: `app.cloud.aws.client(S3Client)`.
   */
  client: <C extends AwsSdkClient>(Ctor: AwsClientConstructor<C>, config?: Record<string, unknown>) => C
}
