import { testPki, type TestPki } from '../../helpers/tls.js'
import { startGoogleApisFake, type GoogleApisFake } from './google-apis.js'
import { startMetadataFake, type MetadataFake } from './metadata.js'
import { startSecretManagerFake, type SecretManagerFake } from './secret-manager.js'
import { GcpWorld } from './world.js'

export { GcpWorld } from './world.js'
export type { FakeSecret, FakeStatus, FakeVersion, HttpFaults, SecretManagerFaults } from './world.js'
export { startSecretManagerFake, type SecretManagerFake } from './secret-manager.js'
export { startMetadataFake, type MetadataFake } from './metadata.js'
export { startGoogleApisFake, type GoogleApisFake } from './google-apis.js'
export { writeAuthorizedUser, writeExternalAccount, writeServiceAccountKey, type ExternalAccountFiles } from './credentials.js'
export { crc32cBitwise, decodeJwt, randomToken, rsaKeyPair, signJwt, verifyJwt } from './jwt.js'

/** Regions whose regional Secret Manager endpoints (secretmanager.REGION.rep.googleapis.com) the fakes serve. */
export const FAKE_REGIONS = ['europe-west1', 'us-central1'] as const

export const GOOGLE_HOSTS = [
  'secretmanager.googleapis.com',
  ...FAKE_REGIONS.map((r) => `secretmanager.${r}.rep.googleapis.com`),
  'oauth2.googleapis.com',
  'sts.googleapis.com',
  'iamcredentials.googleapis.com'
]

export interface GcpFakes {
  world: GcpWorld
  secretManager: SecretManagerFake
  googleApis: GoogleApisFake
  metadata: MetadataFake
  pki: TestPki
  /**
   * Env vars that send the real SDK's production hostnames to the fakes (through the test
   * loopback guard) and make it trust the test CA. GCE_METADATA_HOST is separate: set it
   * only where the metadata server should exist.
   */
  env: { FCS_TEST_REDIRECT: string, FCS_TEST_CA_FILE: string }
  close: () => Promise<void>
}

/** Starts every fake Google endpoint around one world. */
export async function startGcpFakes (world = new GcpWorld()): Promise<GcpFakes> {
  const pki = testPki(GOOGLE_HOSTS)
  const [secretManager, googleApis, metadata] = await Promise.all([
    startSecretManagerFake(world, pki),
    startGoogleApisFake(world, pki),
    startMetadataFake(world)
  ])
  const redirect = [
    `secretmanager.googleapis.com=127.0.0.1:${secretManager.port}`,
    `*.rep.googleapis.com=127.0.0.1:${secretManager.port}`,
    `oauth2.googleapis.com=127.0.0.1:${googleApis.port}`,
    `sts.googleapis.com=127.0.0.1:${googleApis.port}`,
    `iamcredentials.googleapis.com=127.0.0.1:${googleApis.port}`
  ].join(',')
  return {
    world,
    secretManager,
    googleApis,
    metadata,
    pki,
    env: { FCS_TEST_REDIRECT: redirect, FCS_TEST_CA_FILE: pki.caFile },
    close: async () => {
      await Promise.all([secretManager.close(), googleApis.close(), metadata.close()])
    }
  }
}
