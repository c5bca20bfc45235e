import { CloudSecretsError, configError, type CredentialAttempt } from '../../errors.js'
import type { Env } from '../../shared/env.js'
import type { Identity } from '../../types.js'
import type { CreateProvider, Provider, ProviderInit } from '../types.js'
import { CredentialChain } from './chain.js'
import { AwsClientFactory, type AwsClients } from './clients.js'
import { serviceEndpoint, type EndpointSettings } from './endpoints.js'
import { classifyAwsError } from './errors.js'
import { grantDocuments } from './grant.js'
import { readProfile } from './profile.js'
import { RequestLifetime } from '../../shared/request-lifetime.js'
import { loadAwsSdk, type AwsSdk } from './sdk.js'
import { awsRefreshCost } from './refresh.js'
import type { Socket } from 'node:net'
import { untilLookedUp } from '../../shared/until-connecting.js'
import { WarmAgent } from '../../shared/warm-agent.js'
import { firstRoundCalls, loadAwsSecrets, prefetchAwsReads, type EarlyReads } from './secrets.js'
import { EarlyContainerCredentials } from './early-container.js'
import { detectPlatform, planSources } from './sources.js'
import { StsCaller } from './sts.js'
import { ClockOffset, SecretsManagerWire } from './wire.js'

function identityDetails (source: string, profile: string, roleArn: string | undefined): Identity['details'] {
  const details: NonNullable<Identity['details']> = {}
  if (source === 'aws:sso' || source === 'aws:profile' || source === 'aws:process') details.profile = profile
  if (source === 'aws:web-identity' && roleArn !== undefined) details.roleArn = roleArn
  return details
}

/** For the STS / SSO clients the SDK builds inside a source: FIPS and dual-stack from env. */
function innerClientConfig (endpoints: EndpointSettings): Record<string, unknown> {
  const flag = (envName: string, configName: string): boolean => /^true$/i.test(endpoints.env[envName] ?? endpoints.profile?.settings?.[configName] ?? '')
  return { useFipsEndpoint: flag('AWS_USE_FIPS_ENDPOINT', 'use_fips_endpoint'), useDualstackEndpoint: flag('AWS_USE_DUALSTACK_ENDPOINT', 'use_dualstack_endpoint') }
}

/** connections to Secrets Manager opened while the credentials resolve, at most (one per first-round call) */
export const WARM_CONNECTIONS_MAX = 10

/**
 * Opens the store and STS connections as soon as their hosts are known (region from the options
 * or the profile; endpoint overrides honoured; the partition from the regions we know, as the
 * SDK's own table is not loaded yet). An optimisation only: a host that turns out different
 * later is simply not used, and problems are reported by resolveIdentity.
 */
function warmBeforeImport (config: ProviderInit['config'], env: Env, smAgent: WarmAgent, stsAgent: WarmAgent, requests: RequestLifetime): { early?: EarlyContainerCredentials, sockets: Socket[] } {
  let early: EarlyContainerCredentials | undefined
  const sockets: Socket[] = []
  try {
    const profile = readProfile(env)
    // container credentials are the chain's source here: ask for them now, beside the import
    if (planSources(env, profile, process.env).find((p) => p.applies)?.source === 'aws:container') early = EarlyContainerCredentials.start(env, requests)
    const region = config.aws.region ?? profile.region
    if (region === undefined) return { early, sockets }
    const settings: EndpointSettings = { env, profile }
    const refs = config.references.filter((r) => r.provider === 'aws')
    sockets.push(...smAgent.warm(serviceEndpoint('secretsmanager', region, settings).url, Math.min(firstRoundCalls(refs, region), WARM_CONNECTIONS_MAX)))
    sockets.push(...stsAgent.warm(serviceEndpoint('sts', region, settings).url, 1))
  } catch {
    // resolveIdentity reads the same settings and reports what is wrong with them
  }
  return { early, sockets }
}

/** how long the boot waits, at most, for the warm connections' DNS lookups before it imports the SDK */
const CONNECT_YIELD_MS = 50

/**
 * Provider `aws`: the SDK's default Node credential chain, STS GetCallerIdentity for the
 * principal, Secrets Manager (BatchGetSecretValue where it saves calls) for the secrets.
 */
export const createProvider: CreateProvider = async (init: ProviderInit): Promise<Provider> => {
  const { config, log, identityOverride } = init
  // options.env, else process.env: the chain, the endpoints and the SDK clients all take their
  // settings from it (env-chain.ts lists what the SDK still reads from process.env)
  const env = config.env
  // the plugin's own Secrets Manager and STS connections: their handshakes (two round trips on a
  // real network) ride beside the SDK import and then the credential round trip
  const smAgent = new WarmAgent({ maxSockets: 64 })
  const stsAgent = new WarmAgent({ maxSockets: 4 })
  const requests = new RequestLifetime()
  const { early: earlyCredentials, sockets } = warmBeforeImport(config, env, smAgent, stsAgent, requests)
  let sdk: AwsSdk
  try {
    // the lookups' callbacks first: a path that loads an SDK source blocks the event loop for tens of ms
    await untilLookedUp(sockets, CONNECT_YIELD_MS)
    sdk = loadAwsSdk()
  } catch (err) {
    requests.close()
    smAgent.destroy()
    stsAgent.destroy()
    throw err
  }
  let chain: CredentialChain | undefined
  let factory: AwsClientFactory | undefined
  // a full ARN names its region: Secrets Manager's wire per region, memoised, one clock offset
  const wires = new Map<string, SecretsManagerWire>()
  const smClock = new ClockOffset()
  let clients: AwsClients | undefined
  let endpoints: EndpointSettings = { env, partition: sdk.partition }
  let region = ''
  const batch = { denied: false }
  let early: EarlyReads | undefined
  const closing = new AbortController()

  const wireFor = (r: string): SecretsManagerWire => {
    let wire = wires.get(r)
    if (wire === undefined) {
      wire = new SecretsManagerWire({ credentials: (chain as CredentialChain).provider, agent: smAgent, lifetime: requests, clock: smClock }, serviceEndpoint('secretsmanager', r, endpoints).url, r)
      wires.set(r, wire)
    }
    return wire
  }

  const provider: Provider<AwsClients> = {
    name: 'aws',

    async resolveIdentity (ctx): Promise<Identity> {
      const profile = readProfile(env)
      const configured = config.aws.region ?? profile.region
      if (configured === undefined) {
        throw configError([{ source: 'AWS_REGION', message: `no AWS region: set AWS_REGION (or options.aws.region, or region in profile "${profile.name}" of ${profile.files[0]})` }])
      }
      region = configured
      endpoints = { env, profile, partition: sdk.partition }
      // a wire holds the chain's provider and the endpoint: a new resolution builds new ones
      wires.clear()
      // the early container request ends at the deadline too
      requests.bindDeadline(ctx.deadline.signal)
      chain = new CredentialChain(sdk, env, region, ctx.deadline.remaining(), requests, log, innerClientConfig(endpoints), region === 'aws-global' ? undefined : serviceEndpoint('sts', region, endpoints).url, earlyCredentials)
      factory = new AwsClientFactory(chain.provider, region)
      const refs = config.references.filter((r) => r.provider === 'aws')
      // the handshakes ride beside the credential round trip: the reads and STS then find them open
      const stsCaller = new StsCaller({ credentials: chain.provider, region, endpoint: endpoints, agent: stsAgent, lifetime: requests })
      stsAgent.warm(stsCaller.url, 1)
      smAgent.warm(serviceEndpoint('secretsmanager', region, endpoints).url, Math.min(firstRoundCalls(refs, region), WARM_CONNECTIONS_MAX))
      const { credentials, source } = await chain.resolve(ctx)

      // the first round of reads goes out beside GetCallerIdentity (which only completes the
      // identity report); an STS failure still fails the startup, with its own code. Custom
      // checks keep their place before any secret is read.
      if (config.checks.custom.length === 0) early = prefetchAwsReads(refs, { wireFor, region, batch }, AbortSignal.any([ctx.deadline.signal, closing.signal]))
      const caller = await ctx.retry(`identity: STS GetCallerIdentity (${source}, region ${region})`, async (signal) =>
        await requests.track(signal, async () => await stsCaller.getCallerIdentity(signal)),
      (err) => classifyAwsError(err, { refs: config.references, identity: { source, region }, action: 'sts:GetCallerIdentity', profile: profile.name, service: 'STS', endpoint: stsCaller.host }))

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
      const own = factory
      const credentialsProvider = chain.provider
      clients = Object.freeze({
        credentials: credentialsProvider,
        region,
        identity,
        // built, with the SDK loaded, on first read: the startup's own calls do not need it
        get secretsManager () { return own.client(sdk.sm().SecretsManagerClient) },
        client: (Ctor, extra) => own.client(Ctor, extra)
      } satisfies AwsClients)
      return identity
    },

    attempts (): CredentialAttempt[] {
      return chain?.attempts() ?? []
    },

    grant: (refs, identity) => grantDocuments(refs.filter((r) => r.provider === 'aws'), identity),

    refreshCost: (refs) => awsRefreshCost(refs.filter((r) => r.provider === 'aws'), region ?? config.aws.region ?? 'us-east-1'),

    async loadSecrets (refs, ctx) {
      if (chain === undefined) throw new CloudSecretsError('CONFIG', 'aws: loadSecrets was called before resolveIdentity', { provider: 'aws' })
      try {
        return await loadAwsSecrets(refs, ctx, {
          wireFor,
          endpointFor: (r) => serviceEndpoint('secretsmanager', r, endpoints).host,
          region,
          profile: chain?.profile.name,
          log,
          batch,
          early
        })
      } finally {
        early = undefined
        smAgent.release()
        stsAgent.release()
      }
    },

    clients (): AwsClients {
      if (clients === undefined) throw new CloudSecretsError('CONFIG', 'aws: clients() was called before resolveIdentity', { provider: 'aws' })
      return clients
    },

    async close () {
      closing.abort()
      requests.close()
      chain?.close()
      factory?.close()
      // external agents: the SDK's handlers do not destroy them
      smAgent.destroy()
      stsAgent.destroy()
    }
  }
  return provider
}
