import type { AwsClients } from './providers/aws/public.js'

/**
 * `fastify-cloud-secrets/aws`: the types of `app.cloud.aws` / `request.cloud.aws`. Import it once
 * for its types (`import type {} from 'fastify-cloud-secrets/aws'`); it names only
 * @aws-sdk/client-secrets-manager, the one package an AWS app installs.
 */
export type { AwsClients, AwsCredentials, AwsCredentialsProvider, AwsSdkClient, AwsClientConstructor } from './providers/aws/public.js'

declare module './types.js' {
  interface CloudProviders {
    aws: AwsClients
  }
}
