import { randomUUID } from 'node:crypto'
import { testPki, type TestPki } from '../../helpers/tls.js'
import { randomPrincipal, TokenRegistry, type FakePrincipal } from './common.js'
import { FakeEntra } from './entra.js'
import { FakeKeyVault, type FakeVault } from './keyvault.js'
import { FakeAppServiceIdentity, FakeImds } from './managed-identity.js'

/** Host names the test certificate covers (production names, redirected to the fakes). */
export const AZURE_TEST_HOSTS = ['*.vault.azure.net', 'myvault.vault.azure.net', 'login.microsoftonline.com', '*.vault.azure.cn', '*.vault.usgovcloudapi.net']

export interface AzureWorld {
  pki: TestPki
  tokens: TokenRegistry
  tenant: string
  /** system-assigned identity of "the app" (App Service / VM) */
  systemMi: FakePrincipal
  /** a user-assigned identity, by its client id */
  userMi: FakePrincipal
  entra: FakeEntra
  keyvault: FakeKeyVault
  appService: FakeAppServiceIdentity
  imds: FakeImds
  /** IMDS of a machine with no managed identity ("Identity not found"), as a laptop's chain meets it */
  imdsNoIdentity: FakeImds
  /** vault "myvault" (RBAC), reachable as https://myvault.vault.azure.net */
  vault: FakeVault
  /** FCS_TEST_REDIRECT / FCS_TEST_CA_FILE values that route production hosts to the fakes */
  redirectEnv: () => Record<string, string>
  close: () => Promise<void>
}

/** Starts every Azure fake (TLS for Entra and Key Vault) with one tenant, one vault and two managed identities. */
export async function startAzureWorld (): Promise<AzureWorld> {
  const pki = testPki(AZURE_TEST_HOSTS)
  const tokens = new TokenRegistry()
  const tenant = randomUUID()
  const sub = randomUUID()
  const systemMi = randomPrincipal({ tid: tenant, xms_mirid: `/subscriptions/${sub}/resourcegroups/rg-app/providers/Microsoft.Web/sites/my-app` })
  const userMi = randomPrincipal({ tid: tenant, xms_mirid: `/subscriptions/${sub}/resourcegroups/rg-app/providers/Microsoft.ManagedIdentity/userAssignedIdentities/app-identity` })
  const identities = { system: systemMi, user: new Map([[userMi.appid as string, userMi]]) }
  const entra = await new FakeEntra(tokens, tenant).start(pki)
  const keyvault = await new FakeKeyVault(tokens).start(pki)
  const appService = await new FakeAppServiceIdentity(tokens, identities).start()
  const imds = await new FakeImds(tokens, identities).start()
  const imdsNoIdentity = await new FakeImds(tokens, {}).start()
  const vault = keyvault.vault('myvault', tenant)
  return {
    pki,
    tokens,
    tenant,
    systemMi,
    userMi,
    entra,
    keyvault,
    appService,
    imds,
    imdsNoIdentity,
    vault,
    redirectEnv: () => ({
      FCS_TEST_REDIRECT: `*.vault.azure.net=127.0.0.1:${keyvault.port},*.vault.azure.cn=127.0.0.1:${keyvault.port},*.vault.usgovcloudapi.net=127.0.0.1:${keyvault.port},login.microsoftonline.com=127.0.0.1:${entra.port}`,
      FCS_TEST_CA_FILE: pki.caFile
    }),
    close: async () => {
      await Promise.all([entra.close(), keyvault.close(), appService.close(), imds.close(), imdsNoIdentity.close()])
    }
  }
}
