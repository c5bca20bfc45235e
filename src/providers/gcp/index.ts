import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { GaxModule } from './gax.js'
import type * as GrpcJs from '@grpc/grpc-js'
import type * as SecretManagerSdk from '@google-cloud/secret-manager'
import { CloudSecretsError, type CredentialAttempt } from '../../errors.js'
import { importFromSdk, requireSdk, requireSdkFile, resolveSdk } from '../../shared/sdk.js'
import type { Identity } from '../../types.js'
import type { CreateProvider, Provider, ProviderInit } from '../types.js'
import { GcpClientRegistry } from './clients.js'
import { grantDocuments, parseSecretName } from './grant.js'
import { resolveGcpIdentity, type ResolvedGcp } from './chain.js'
import { checkGcpScopes } from './scopes.js'
import { createAuthTransport } from './transport.js'
import { gcpRefreshCost } from './refresh.js'
import { createSecretReader, type RequestHeaders, type SecretReader } from './reader.js'
import { untilSocketOpened } from '../../shared/until-connecting.js'
import { EarlyMetadata } from './credentials/early-metadata.js'
import { RequestLifetime } from '../../shared/request-lifetime.js'
import { GLOBAL_ENDPOINT, loadGcpSecrets, regionalEndpoint } from './secrets.js'

const SDK_PACKAGE = '@google-cloud/secret-manager'
/**
 * How long the boot waits, at most, for the store channel's socket before it imports the SDK:
 * grpc-js loads its resolver and balancer on first use (CPU the boot pays anyway) and looks up
 * the host; ~30–60 ms here.
 */
const CONNECT_YIELD_MS = 100

/**
 * google-auth-library exactly as the Secret Manager client uses it: resolved through google-gax's
 * tree (so the GoogleAuth we build is the class the client expects, hoisted or not), without
 * loading google-gax itself (~45 ms of a cold start: protobufjs, proto-loader, its fallback
 * transport), which only the Secret Manager client needs, and only once the app builds it.
 */
async function importAuthLibrary (): Promise<GaxModule> {
  const gal = await importFromSdk<GaxModule['googleAuthLibrary']>('gcp', [SDK_PACKAGE, 'google-gax'], 'google-auth-library')
  return { GoogleAuth: gal.GoogleAuth, googleAuthLibrary: gal }
}

type SecretManagerClass = typeof SecretManagerSdk.SecretManagerServiceClient

/**
 * The Secret Manager client class, loaded when the app first builds the client. The package's
 * entry also loads the v1beta2 client and build/protos/protos.js (770 KB of generated code that
 * the client does not use: it reads protos.json), about 25 ms; so the v1 client module is loaded
 * alone where the generated layout puts it (build/src/v1/, beside the entry's build/src/), else
 * the entry.
 */
function requireSecretManager (): SecretManagerClass {
  const v1 = join(dirname(resolveSdk('gcp', SDK_PACKAGE)), 'v1', 'secret_manager_service_client.js')
  if (existsSync(v1)) {
    const Client = requireSdkFile<{ SecretManagerServiceClient?: SecretManagerClass }>(v1).SecretManagerServiceClient
    if (typeof Client === 'function') return Client
  }
  return requireSdk<typeof SecretManagerSdk>('gcp', SDK_PACKAGE).SecretManagerServiceClient
}

/** the store endpoints the references name: global, and each regional one (secretmanager.L.rep.googleapis.com) */
function storeEndpoints (refs: ProviderInit['config']['references']): Set<string> {
  const endpoints = new Set<string>()
  for (const ref of refs) {
    if (ref.provider !== 'gcp') continue
    const location = parseSecretName(ref.id)?.location
    endpoints.add(location !== undefined ? regionalEndpoint(location) : GLOBAL_ENDPOINT)
  }
  return endpoints
}

/**
 * Provider `gcp`: Application Default Credentials detected once (key file, gcloud login,
 * workload identity federation, metadata server), one GoogleAuth shared by every client,
 * Secret Manager over gRPC with the plugin's retry and deadline, CRC32C checked.
 */
export const createProvider: CreateProvider = async (init: ProviderInit): Promise<Provider> => {
  const { config, log, identityOverride } = init
  // on a serverless runtime, the token and email requests go out before any import (early-metadata.ts)
  const lifetime = new RequestLifetime('fastify-cloud-secrets: the gcp provider')
  const early = EarlyMetadata.start(config.env, lifetime)
  // grpc-js first (a sixth of the SDK's import): the store channels open now, and their
  // handshakes ride beside the rest of the import and the token request (reader.ts)
  let requestHeaders: RequestHeaders | undefined
  let reader: SecretReader | undefined
  let gax: GaxModule
  try {
    const grpc = await importFromSdk<typeof GrpcJs>('gcp', [SDK_PACKAGE, 'google-gax'], '@grpc/grpc-js')
    const secretReader = reader = createSecretReader(grpc, () => requestHeaders)
    const endpoints = storeEndpoints(config.references)
    if (endpoints.size > 0) await untilSocketOpened(() => { for (const endpoint of endpoints) secretReader.warm(endpoint) }, CONNECT_YIELD_MS)
    gax = await importAuthLibrary()
  } catch (err) {
    reader?.close()
    lifetime.close()
    throw err
  }
  const secretReader = reader
  const transport = createAuthTransport(gax, lifetime)
  const registry = new GcpClientRegistry(requireSecretManager as never, transport, log)
  let attempts: CredentialAttempt[] = []
  let resolved: ResolvedGcp | undefined
  let identity: Identity | undefined

  const requireResolved = (): ResolvedGcp => {
    if (resolved === undefined) throw new CloudSecretsError('CONFIG', 'the gcp provider was used before its identity was resolved', { provider: 'gcp' })
    return resolved
  }

  return {
    name: 'gcp',
    async resolveIdentity (ctx) {
      lifetime.bindDeadline(ctx.deadline.signal)
      attempts = []
      resolved = await resolveGcpIdentity({
        env: config.env,
        gax,
        transport,
        configuredProject: config.gcp.projectId,
        log,
        attempts,
        children: registry.children,
        early,
        onAuth: (auth, projectId, kind) => {
          // a key file's self-signed JWTs are configured by the Secret Manager client on the
          // shared GoogleAuth: built now for a file; on the metadata server, when the app asks
          registry.useAuth(auth, projectId, kind === 'file')
          requestHeaders = kind === 'metadata'
            // the metadata credential's token as a plain header: its getRequestHeaders builds a
            // fetch Headers, whose first use loads Node's fetch implementation (~15 ms of a cold start)
            ? async () => {
              const client = await auth.getClient()
              const { token } = await client.getAccessToken()
              if (typeof token !== 'string' || token === '') throw new Error('the metadata credential returned no access token')
              const headers: Record<string, string> = { authorization: `Bearer ${token}` }
              if (typeof client.quotaProjectId === 'string' && client.quotaProjectId !== '') headers['x-goog-user-project'] = client.quotaProjectId
              return headers
            }
            : async (url) => await auth.getRequestHeaders(url) as unknown as Headers
        }
      }, ctx)
      identity = { ...resolved.identity, ...identityOverride }
      return identity
    },
    attempts: () => attempts.map((a) => ({ ...a })),
    grant: (refs, forIdentity) => grantDocuments(refs, forIdentity),
    refreshCost: (refs) => gcpRefreshCost(refs.filter((r) => r.provider === 'gcp'), resolved?.projectId ?? config.gcp.projectId),
    async checkScopes (scopes, ctx) {
      await checkGcpScopes(scopes, ctx, requireResolved(), gax, transport)
    },
    async loadSecrets (refs, ctx) {
      const { projectId } = requireResolved()
      return await loadGcpSecrets(refs, ctx, { projectId, identity: ctx.identity, reader: secretReader })
    },
    clients: () => registry.handles(identity ?? requireResolved().identity),
    async close () {
      secretReader.close()
      await registry.close()
    }
  }
}
