import { firstSet } from '../../shared/env.js'
import type { ProviderDescriptor } from '../descriptor.js'

/** options.aws */
export interface AwsOptions {
  /** region for Secrets Manager (env AWS_REGION, AWS_DEFAULT_REGION); default: the SDK's */
  region?: string
}

export interface AwsSettings {
  readonly region?: string
}

const ARN = /^arn:aws(?:-[a-z-]+)?:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]{1,512}$/
const NAME = /^[A-Za-z0-9/_+=.@!-]{1,512}$/
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d+$/

/** AWS Secrets Manager, described to the core (no SDK here). */
export const awsDescriptor: ProviderDescriptor<'aws', AwsSettings> = {
  name: 'aws',
  section: 'aws',
  envVars: ['AWS_REGION', 'AWS_DEFAULT_REGION'],
  platformMarkers: ['AWS_LAMBDA_FUNCTION_NAME', 'ECS_CONTAINER_METADATA_URI_V4', 'ECS_CONTAINER_METADATA_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_WEB_IDENTITY_TOKEN_FILE'],
  readSettings ({ env, add, text }) {
    const option = text('region')
    const fromEnv = option === undefined ? firstSet(env, 'AWS_REGION', 'AWS_DEFAULT_REGION') : undefined
    const region = option ?? fromEnv?.value
    if (region !== undefined && !REGION.test(region)) add(option !== undefined ? 'options.aws.region' : fromEnv?.name ?? 'AWS_REGION', `"${region.slice(0, 40)}" is not an AWS region (e.g. eu-west-1)`)
    return { region }
  },
  ids: {
    nativePrefixes: ['arn:'],
    resolve ({ id, version }, problem) {
      if (id.startsWith('arn:')) {
        if (!ARN.test(id)) problem('not a Secrets Manager ARN (arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME)')
      } else if (!NAME.test(id)) {
        problem('an AWS secret name has 1–512 characters: letters, digits and /_+=.@!-')
      }
      return { id, version }
    }
  },
  stage: { what: 'an AWS version stage', example: 'AWSPREVIOUS' },
  scopes: false,
  packages: ['@aws-sdk/client-secrets-manager'],
  login: 'aws sso login'
}
