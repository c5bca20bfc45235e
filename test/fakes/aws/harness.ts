import { testPki, type TestPki } from '../../helpers/tls.js'
import { FakeSsoPortal } from './credentials.js'
import { FakeSecretsManager } from './secrets-manager.js'
import { FakeSts } from './sts.js'
import { FakeAwsWorld, type AllowList } from './world.js'

export interface AwsFakes {
  world: FakeAwsWorld
  sm: FakeSecretsManager
  sts: FakeSts
  sso: FakeSsoPortal
  pki: TestPki
  /** production hostnames → the fakes, for FCS_TEST_REDIRECT */
  redirect: string
  /** FCS_TEST_REDIRECT + FCS_TEST_CA_FILE, with the guard's STS endpoint override removed */
  env: Record<string, string | undefined>
  close: () => Promise<void>
}

/**
 * Secrets Manager, STS and the SSO portal over https with a test CA, reachable under their
 * production hostnames of `region` through the loopback guard's FCS_TEST_REDIRECT.
 */
export async function startAwsFakes (options: { region?: string, ssoUser?: string, ssoAllow?: AllowList, otherRegions?: string[], ssoRegion?: string } = {}): Promise<AwsFakes> {
  const region = options.region ?? 'us-east-1'
  // other regions' Secrets Manager hosts reach the same fake, which tells them apart by the SigV4 scope
  const others = Object.fromEntries((options.otherRegions ?? []).map((r) => [`sm-${r}`, `secretsmanager.${r}.amazonaws.com`]))
  const hosts = { ...others, sm: `secretsmanager.${region}.amazonaws.com`, sts: `sts.${region}.amazonaws.com`, stsGlobal: 'sts.amazonaws.com', sso: `portal.sso.${options.ssoRegion ?? region}.amazonaws.com` }
  const pki = testPki(Object.values(hosts))
  const tls = { key: pki.key, cert: pki.cert }
  const world = new FakeAwsWorld({ region })
  const [sm, sts, sso] = await Promise.all([
    new FakeSecretsManager(world, tls).start(),
    new FakeSts(world, tls).start(),
    new FakeSsoPortal(world, { user: options.ssoUser ?? 'dev@example.com', allow: options.ssoAllow ?? [] }, tls).start()
  ])
  const redirect = [...Object.values(others).map((h) => `${h}=127.0.0.1:${sm.port}`), `${hosts.sm}=127.0.0.1:${sm.port}`, `${hosts.sts}=127.0.0.1:${sts.port}`, `${hosts.stsGlobal}=127.0.0.1:${sts.port}`, `${hosts.sso}=127.0.0.1:${sso.port}`].join(',')
  return {
    world,
    sm,
    sts,
    sso,
    pki,
    redirect,
    env: { FCS_TEST_REDIRECT: redirect, FCS_TEST_CA_FILE: pki.caFile, AWS_ENDPOINT_URL_STS: undefined, AWS_REGION: region },
    close: async () => { await Promise.all([sm.close(), sts.close(), sso.close()]) }
  }
}
