import type * as SecretsManagerSdk from '@aws-sdk/client-secrets-manager'
import type * as StsSdk from '@aws-sdk/client-sts'
import type * as CredentialProviders from '@aws-sdk/credential-providers'
import { CloudSecretsError, configError, type CredentialAttempt } from '../../errors.js'
import { importSdk } from '../../sdk.js'
import type { Identity } from '../../types.js'
import type { CreateProvider, Provider, ProviderInit } from '../types.js'
import { AwsClientFactory, type AwsClients } from './clients.js'
import { classifyAwsError } from './errors.js'
import { grantDocuments } from './grant.js'
import { CredentialChain, detectPlatform, InFlightRequests, readProfile, sdkLogger } from './identity.js'
import { loadAwsSecrets } from './secrets.js'

export type { AwsClients } from './clients.js'

declare module '../../types.js' {
  interface CloudProviders {
    aws: AwsClients
  }
}

/** Endpoint prefix and its override env var (`AWS_ENDPOINT_URL_<ID>`), per service the plugin calls. */
const SERVICE_ENDPOINTS = { secretsmanager: 'AWS_ENDPOINT_URL_SECRETS_MANAGER', sts: 'AWS_ENDPOINT_URL_STS' } as const

/**
 * The host a service's calls of a region go to — its AWS_ENDPOINT_URL_<ID>, AWS_ENDPOINT_URL, or
 * the regional host (FIPS, China partition) — for error messages that name where a call went.
 */
export function serviceHost (service: keyof typeof SERVICE_ENDPOINTS, env: Readonly<Record<string, string | undefined>>, region: string): string {
  const override = env[SERVICE_ENDPOINTS[service]] ?? env.AWS_ENDPOINT_URL
  if (override !== undefined && override !== '') return hostOf(override)
  const fips = /^true$/i.test(env.AWS_USE_FIPS_ENDPOINT ?? '') ? '-fips' : ''
  return `${service}${fips}.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`
}

function hostOf (url: string): string {
  try {
    return new URL(url).host
  } catch {
    return url
  }
}

function identityDetails (source: string, profile: string, roleArn: string | undefined): Identity['details'] {
  const details: NonNullable<Identity['details']> = {}
  if (source === 'aws:sso' || source === 'aws:profile' || source === 'aws:process') details.profile = profile
  if (source === 'aws:web-identity' && roleArn !== undefined) details.roleArn = roleArn
  return details
}

/** Timeouts of the plugin's own SDK clients; the startup deadline still bounds every call. */
const CONNECT_TIMEOUT_MS = 3000
const REQUEST_TIMEOUT_MS = 30_000

/**
 * Provider `aws`: the SDK's default Node credential chain, STS GetCallerIdentity for the
 * principal, Secrets Manager (BatchGetSecretValue where it saves calls) for the secrets.
 */
export const createProvider: CreateProvider = async (init: ProviderInit): Promise<Provider> => {
  const [sm, sts, credentialProviders] = await Promise.all([
    importSdk<typeof SecretsManagerSdk>('aws', '@aws-sdk/client-secrets-manager'),
    importSdk<typeof StsSdk>('aws', '@aws-sdk/client-sts'),
    importSdk<typeof CredentialProviders>('aws', '@aws-sdk/credential-providers')
  ])
  const { config, log, identityOverride } = init
  // the SDK reads process.env itself; plan with what it sees
  const env = process.env
  const requests = new InFlightRequests()
  let chain: CredentialChain | undefined
  let factory: AwsClientFactory | undefined
  let loaderClient: SecretsManagerSdk.SecretsManagerClient | undefined
  // a full ARN names its region: one loader client per region, memoised
  const regionalClients = new Map<string, SecretsManagerSdk.SecretsManagerClient>()
  let clients: AwsClients | undefined
  let region = ''
  const batch = { denied: false }

  const sdkClientConfig = (): Record<string, unknown> => ({
    region,
    credentials: chain?.provider,
    // the plugin owns retries (ctx.retry, inside the deadline)
    maxAttempts: 1,
    requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, throwOnRequestTimeout: true },
    logger: sdkLogger(log)
  })

  const provider: Provider<AwsClients> = {
    name: 'aws',

    async resolveIdentity (ctx): Promise<Identity> {
      const profile = readProfile(env)
      const configured = config.aws.region ?? profile.region
      if (configured === undefined) {
        throw configError([{ source: 'AWS_REGION', message: `no AWS region: set AWS_REGION (or options.aws.region, or region in profile "${profile.name}" of ${profile.files[0]})` }])
      }
      region = configured
      chain = new CredentialChain(credentialProviders, env, region, ctx.deadline.remaining(), requests, log)
      factory = new AwsClientFactory(chain.provider, region)
      const { credentials, source } = await chain.resolve(ctx)

      const stsClient = factory.own(new sts.STSClient(sdkClientConfig()))
      const caller = await ctx.retry(`identity: STS GetCallerIdentity (${source}, region ${region})`, async (signal) =>
        await requests.run(signal, async () => await stsClient.send(new sts.GetCallerIdentityCommand({}), { abortSignal: signal })),
      (err) => classifyAwsError(err, { refs: config.references, identity: { source, region }, action: 'sts:GetCallerIdentity', profile: profile.name, service: 'STS', endpoint: serviceHost('sts', env, region) }))

      const identity: Identity = {
        provider: 'aws',
        platform: detectPlatform(env, source),
        source,
        principal: caller.Arn,
        account: caller.Account ?? credentials.accountId,
        region,
        expiresAt: credentials.expiration?.toISOString(),
        details: identityDetails(source, profile.name, env.AWS_ROLE_ARN),
        ...identityOverride
      }
      loaderClient = factory.own(new sm.SecretsManagerClient(sdkClientConfig()))
      const own = factory
      const credentialsProvider = chain.provider
      clients = Object.freeze({
        credentials: credentialsProvider,
        region,
        identity,
        secretsManager: own.client(sm.SecretsManagerClient),
        client: (Ctor, extra) => own.client(Ctor, extra)
      } satisfies AwsClients)
      return identity
    },

    attempts (): CredentialAttempt[] {
      return chain?.attempts() ?? []
    },

    grant: (refs, identity) => grantDocuments(refs.filter((r) => r.provider === 'aws'), identity),

    async loadSecrets (refs, ctx) {
      if (loaderClient === undefined) throw new CloudSecretsError('CONFIG', 'aws: loadSecrets was called before resolveIdentity', { provider: 'aws' })
      return await loadAwsSecrets(refs, ctx, {
        sdk: sm,
        clientFor: (r) => {
          if (r === region) return loaderClient as SecretsManagerSdk.SecretsManagerClient
          const hit = regionalClients.get(r)
          if (hit !== undefined) return hit
          const made = (factory as AwsClientFactory).own(new sm.SecretsManagerClient({ ...sdkClientConfig(), region: r }))
          regionalClients.set(r, made)
          return made
        },
        endpointFor: (r) => serviceHost('secretsmanager', env, r),
        region,
        profile: chain?.profile.name,
        log,
        batch
      })
    },

    clients (): AwsClients {
      if (clients === undefined) throw new CloudSecretsError('CONFIG', 'aws: clients() was called before resolveIdentity', { provider: 'aws' })
      return clients
    },

    async close () {
      requests.close()
      chain?.close()
      factory?.close()
    }
  }
  return provider
}
