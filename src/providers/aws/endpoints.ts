import type { Env } from '../../shared/env.js'
import type { ProfileInfo } from './profile.js'

/**
 * Where the plugin's AWS calls go, by the SDK's own rules: an endpoint URL configured for the
 * service or for all services (env var, then the profile's `services` section, then the
 * profile's `endpoint_url`; none of them when AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true),
 * else the regional host of the region's partition, FIPS and dual-stack as configured.
 */

export type AwsService = 'sts' | 'secretsmanager'

/** The service's id in env var names and in the config file's `services` section. */
const SERVICE_IDS: Record<AwsService, { env: string, config: string }> = {
  sts: { env: 'AWS_ENDPOINT_URL_STS', config: 'sts' },
  secretsmanager: { env: 'AWS_ENDPOINT_URL_SECRETS_MANAGER', config: 'secrets_manager' }
}

export interface Partition { name: string, dnsSuffix: string, dualStackDnsSuffix: string }

/** The SDK's partition table (`@aws-sdk/core/client`), or undefined where that build lacks it. */
export type PartitionOf = (region: string) => Partition & { supportsFIPS?: boolean }

/** The partitions, for an @aws-sdk/core too old to carry its own table. */
const KNOWN_PARTITIONS: Array<[RegExp, Partition]> = [
  [/^cn-/, { name: 'aws-cn', dnsSuffix: 'amazonaws.com.cn', dualStackDnsSuffix: 'api.amazonwebservices.com.cn' }],
  [/^us-gov-/, { name: 'aws-us-gov', dnsSuffix: 'amazonaws.com', dualStackDnsSuffix: 'api.aws' }],
  [/^us-iso-/, { name: 'aws-iso', dnsSuffix: 'c2s.ic.gov', dualStackDnsSuffix: 'api.aws.ic.gov' }],
  [/^us-isob-/, { name: 'aws-iso-b', dnsSuffix: 'sc2s.sgov.gov', dualStackDnsSuffix: 'api.aws.scloud' }],
  [/^eu-isoe-/, { name: 'aws-iso-e', dnsSuffix: 'cloud.adc-e.uk', dualStackDnsSuffix: 'api.cloud-aws.adc-e.uk' }],
  [/^us-isof-/, { name: 'aws-iso-f', dnsSuffix: 'csp.hci.ic.gov', dualStackDnsSuffix: 'api.aws.hci.ic.gov' }],
  [/^eusc-/, { name: 'aws-eusc', dnsSuffix: 'amazonaws.eu', dualStackDnsSuffix: 'api.amazonwebservices.eu' }]
]

/** the commercial partition's region shape (the SDK table's `aws` regionRegex) */
const COMMERCIAL = /^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$/

/** true when `knownPartition` answers for the region by its shape (no need of the SDK's table) */
export function partitionKnown (region: string): boolean {
  return COMMERCIAL.test(region) || KNOWN_PARTITIONS.some(([re]) => re.test(region))
}

export function knownPartition (region: string): Partition {
  return KNOWN_PARTITIONS.find(([re]) => re.test(region))?.[1] ?? { name: 'aws', dnsSuffix: 'amazonaws.com', dualStackDnsSuffix: 'api.aws' }
}

export interface EndpointSettings {
  env: Env
  profile?: Pick<ProfileInfo, 'settings' | 'services'>
  /** the SDK's partition function, when it has one (undefined: the table here answers) */
  partition?: (region: string) => ReturnType<PartitionOf> | undefined
}

export interface Endpoint {
  url: string
  host: string
  /** an endpoint URL was configured (the region still signs the request) */
  configured: boolean
}

function flag (settings: EndpointSettings, envName: string, configName: string): boolean {
  const value = settings.env[envName] ?? settings.profile?.settings?.[configName]
  return /^true$/i.test(value ?? '')
}

function configuredUrl (service: AwsService, s: EndpointSettings): string | undefined {
  if (flag(s, 'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS', 'ignore_configured_endpoint_urls')) return undefined
  const id = SERVICE_IDS[service]
  const candidates = [s.env[id.env], s.env.AWS_ENDPOINT_URL, s.profile?.services?.[`${id.config}.endpoint_url`], s.profile?.settings?.endpoint_url]
  return candidates.find((c) => c !== undefined && c !== '')
}

function hostOf (url: string): string {
  try {
    return new URL(url).host
  } catch {
    return url
  }
}

/** The endpoint a service's calls in `region` go to. */
export function serviceEndpoint (service: AwsService, region: string, s: EndpointSettings): Endpoint {
  const url = configuredUrl(service, s)
  if (url !== undefined) return { url, host: hostOf(url), configured: true }
  const fips = flag(s, 'AWS_USE_FIPS_ENDPOINT', 'use_fips_endpoint')
  const dualStack = flag(s, 'AWS_USE_DUALSTACK_ENDPOINT', 'use_dualstack_endpoint')
  let host: string
  if (service === 'sts' && region === 'aws-global') {
    host = 'sts.amazonaws.com'
  } else {
    const p = s.partition?.(region) ?? knownPartition(region)
    const suffix = dualStack ? p.dualStackDnsSuffix : p.dnsSuffix
    // STS in GovCloud is FIPS at its regional host (the SDK's STS endpoint rules)
    const prefix = fips && !(service === 'sts' && p.name === 'aws-us-gov' && !dualStack) ? `${service}-fips` : service
    host = `${prefix}.${region}.${suffix}`
  }
  return { url: `https://${host}`, host, configured: false }
}

/** The region requests to `region` are signed for (the global STS endpoint signs us-east-1). */
export function signingRegion (service: AwsService, region: string): string {
  return service === 'sts' && region === 'aws-global' ? 'us-east-1' : region
}
