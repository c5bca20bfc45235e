import { test } from 'tap'
import { createRequire } from 'node:module'
import { knownPartition, serviceEndpoint, signingRegion } from '../../src/providers/aws/endpoints.js'
import { parseIni } from '../../src/providers/aws/profile.js'
import type { PartitionOf } from '../../src/providers/aws/sdk.js'

// the SDK's own partition table, as the provider loads it (from client-secrets-manager's tree)
const fromSm = createRequire(createRequire(import.meta.url).resolve('@aws-sdk/client-secrets-manager'))
const sdkPartition = (fromSm('@aws-sdk/core/client') as { partition: PartitionOf }).partition

const host = (service: 'sts' | 'secretsmanager', region: string, env: Record<string, string> = {}, partition: PartitionOf | undefined = sdkPartition): string =>
  serviceEndpoint(service, region, { env, partition }).host

test('regional hosts per partition, from the SDK\'s table and from the fallback alike', (t) => {
  const cases: Array<[string, string, string]> = [
    ['us-east-1', 'sts.us-east-1.amazonaws.com', 'secretsmanager.us-east-1.amazonaws.com'],
    ['cn-north-1', 'sts.cn-north-1.amazonaws.com.cn', 'secretsmanager.cn-north-1.amazonaws.com.cn'],
    ['us-gov-west-1', 'sts.us-gov-west-1.amazonaws.com', 'secretsmanager.us-gov-west-1.amazonaws.com'],
    ['eusc-de-east-1', 'sts.eusc-de-east-1.amazonaws.eu', 'secretsmanager.eusc-de-east-1.amazonaws.eu'],
    ['us-iso-east-1', 'sts.us-iso-east-1.c2s.ic.gov', 'secretsmanager.us-iso-east-1.c2s.ic.gov']
  ]
  for (const [region, sts, sm] of cases) {
    t.equal(host('sts', region), sts, `${region}: STS`)
    t.equal(host('secretsmanager', region), sm, `${region}: Secrets Manager`)
    t.equal(host('sts', region, {}, undefined), sts, `${region}: STS without the SDK's table`)
    t.equal(knownPartition(region).dnsSuffix, sdkPartition(region).dnsSuffix, `${region}: the fallback agrees with the SDK`)
  }
  t.equal(host('sts', 'aws-global'), 'sts.amazonaws.com')
  t.equal(signingRegion('sts', 'aws-global'), 'us-east-1')
  t.equal(signingRegion('sts', 'eu-west-1'), 'eu-west-1')
  t.end()
})

test('FIPS and dual-stack, from env vars or the profile, as the SDK\'s STS rules have them', (t) => {
  const fips = { AWS_USE_FIPS_ENDPOINT: 'true' }
  t.equal(host('sts', 'us-east-1', fips), 'sts-fips.us-east-1.amazonaws.com')
  t.equal(host('secretsmanager', 'us-east-1', fips), 'secretsmanager-fips.us-east-1.amazonaws.com')
  t.equal(host('sts', 'us-gov-west-1', fips), 'sts.us-gov-west-1.amazonaws.com', 'GovCloud STS is FIPS at its regional host')
  t.equal(host('secretsmanager', 'us-gov-west-1', fips), 'secretsmanager-fips.us-gov-west-1.amazonaws.com')
  t.equal(host('sts', 'us-east-1', { AWS_USE_DUALSTACK_ENDPOINT: 'true' }), 'sts.us-east-1.api.aws')
  t.equal(host('sts', 'us-east-1', { ...fips, AWS_USE_DUALSTACK_ENDPOINT: 'true' }), 'sts-fips.us-east-1.api.aws')
  t.equal(host('sts', 'us-east-1', { AWS_USE_FIPS_ENDPOINT: 'false' }), 'sts.us-east-1.amazonaws.com')
  const profile = { settings: { use_fips_endpoint: 'true' } }
  t.equal(serviceEndpoint('sts', 'us-east-1', { env: {}, profile }).host, 'sts-fips.us-east-1.amazonaws.com', 'use_fips_endpoint in the profile')
  t.equal(serviceEndpoint('sts', 'us-east-1', { env: { AWS_USE_FIPS_ENDPOINT: 'false' }, profile }).host, 'sts.us-east-1.amazonaws.com', 'the env var wins over the profile')
  t.end()
})

test('configured endpoint URLs: service env var, global env var, services section, profile, and the ignore switch', (t) => {
  const ini = parseIni('[profile dev]\nendpoint_url = http://profile.example:1\nservices = local\n[services local]\nsts =\n  endpoint_url = http://sts-section.example:2\nsecrets_manager =\n  endpoint_url = http://sm-section.example:3\n')
  const settings = ini.get('profile dev') ?? {}
  const profile = { settings, services: ini.get('services local') }
  const at = (service: 'sts' | 'secretsmanager', env: Record<string, string>): string => serviceEndpoint(service, 'us-east-1', { env, profile }).url
  t.equal(at('sts', { AWS_ENDPOINT_URL_STS: 'http://sts-env.example:4', AWS_ENDPOINT_URL: 'http://all.example:5' }), 'http://sts-env.example:4')
  t.equal(at('sts', { AWS_ENDPOINT_URL: 'http://all.example:5' }), 'http://all.example:5')
  t.equal(at('sts', {}), 'http://sts-section.example:2', 'the profile\'s services section')
  t.equal(at('secretsmanager', {}), 'http://sm-section.example:3')
  t.equal(serviceEndpoint('sts', 'us-east-1', { env: {}, profile: { settings } }).url, 'http://profile.example:1', 'the profile\'s endpoint_url')
  t.equal(at('sts', { AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true', AWS_ENDPOINT_URL_STS: 'http://sts-env.example:4' }), 'https://sts.us-east-1.amazonaws.com', 'ignored when asked')
  t.equal(serviceEndpoint('sts', 'us-east-1', { env: { AWS_ENDPOINT_URL_STS: 'http://127.0.0.1:9' } }).configured, true)
  t.end()
})
