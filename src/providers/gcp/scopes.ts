import { CloudSecretsError, isDeadlineError } from '../../errors.js'
import type { StepContext } from '../types.js'
import { CLOUD_PLATFORM_SCOPE, type ResolvedGcp } from './chain.js'
import type { MetadataCredential } from './credentials/metadata.js'
import { classifyTokenError, endpointOf, safeText, tokenFix as tokenFixFor } from './errors.js'
import type { GaxModule } from './gax.js'
import type { AuthTransport } from './transport.js'

/**
 * Acquires a token for each extra scope (CLOUD_SECRETS_CHECK_SCOPES) with the app's credential:
 * the metadata server's ?scopes=, a scoped copy of a file credential, or, for a gcloud user
 * login (whose refresh token has fixed scopes), tokeninfo's list of granted scopes.
 */
export async function checkGcpScopes (scopes: readonly string[], ctx: StepContext, resolved: ResolvedGcp, gax: GaxModule, transport: AuthTransport): Promise<void> {
  const { credential, authClient, identity } = resolved
  const results = await Promise.allSettled(scopes.map(async (scope) => {
    const classify = (err: unknown): CloudSecretsError => classifyTokenError(err, {
      what: `scope ${scope} for ${identity.principal ?? credential.source}`,
      source: credential.source,
      principal: identity.principal,
      endpoint: endpointOf(err, credential.kind === 'metadata' ? `${credential.baseUrl}/computeMetadata/v1/instance/service-accounts/default/token` : 'the token endpoint')
    })
    await ctx.retry(`token scope ${scope} (${credential.source})`, async () => {
      if (credential.kind === 'metadata') {
        await (authClient as MetadataCredential).tokenForScopes([scope])
      } else if (credential.source === 'gcp:authorized-user') {
        const { token } = await authClient.getAccessToken()
        const info = await (authClient as unknown as { getTokenInfo: (t: string) => Promise<{ scopes?: string[] }> }).getTokenInfo(token ?? '')
        if (!(info.scopes ?? []).includes(scope)) {
          throw new CloudSecretsError('TOKEN', `the gcloud application-default login was not granted scope ${scope}`, {
            provider: 'gcp',
            principal: identity.principal,
            fix: `log in again with it: gcloud auth application-default login --scopes=openid,https://www.googleapis.com/auth/userinfo.email,${CLOUD_PLATFORM_SCOPE},${scope}`
          })
        }
      } else {
        const scoped = new gax.GoogleAuth({ credentials: credential.json as never, scopes: [scope], clientOptions: { transporter: transport.transporter } })
        await (await scoped.getClient()).getAccessToken()
      }
    }, classify)
  }))
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as unknown)
  if (failures.length === 0) return
  const timeout = failures.find((e) => isDeadlineError(e))
  if (timeout !== undefined || failures.length === 1) throw timeout ?? failures[0]
  throw new CloudSecretsError('CHECK_FAILED', `no token for ${failures.length} scopes:\n${failures.map((e) => `  - ${(e as CloudSecretsError).summary ?? safeText(e)}`).join('\n')}`, {
    provider: 'gcp',
    principal: identity.principal,
    errors: failures.filter((e): e is CloudSecretsError => e instanceof CloudSecretsError),
    fix: (failures[0] as CloudSecretsError).fix ?? tokenFixFor(credential.source)
  })
}
