import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { rsaKeyPair, signJwt } from './jwt.js'
import type { GcpWorld } from './world.js'

const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform'

function scratch (): string {
  return mkdtempSync(join(tmpdir(), 'fcs-gcp-cred-'))
}

/** A service-account key file as `gcloud iam service-accounts keys create` writes it; the world knows its public key. */
export function writeServiceAccountKey (world: GcpWorld, email: string, options: { projectId?: string, dir?: string } = {}): { file: string, email: string, keyId: string, privateKey: string } {
  const { privateKeyPem, publicKey } = rsaKeyPair()
  const keyId = randomBytes(20).toString('hex')
  world.serviceAccountKeys.set(keyId, { email, publicKey })
  const projectId = options.projectId ?? email.split('@')[1]?.split('.')[0] ?? 'demo-project'
  const json = {
    type: 'service_account',
    project_id: projectId,
    private_key_id: keyId,
    private_key: privateKeyPem,
    client_email: email,
    client_id: String(100000000000000000000n + BigInt(Math.floor(Math.random() * 1e9))),
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: 'https://oauth2.googleapis.com/token',
    auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
    client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(email)}`,
    universe_domain: 'googleapis.com'
  }
  const file = join(options.dir ?? scratch(), 'service-account-key.json')
  writeFileSync(file, JSON.stringify(json, null, 2), { mode: 0o600 })
  return { file, email, keyId, privateKey: privateKeyPem }
}

/**
 * What `gcloud auth application-default login` writes to
 * $CLOUDSDK_CONFIG/application_default_credentials.json (type authorized_user).
 */
export function writeAuthorizedUser (world: GcpWorld, email: string, configDir: string, options: { quotaProjectId?: string, scopes?: string[] } = {}): { file: string, refreshToken: string, clientSecret: string } {
  const refreshToken = `1//0g${randomBytes(30).toString('base64url')}`
  const clientId = '764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com'
  const clientSecret = `d-FL95Q${randomBytes(12).toString('base64url')}`
  world.refreshTokens.set(refreshToken, { email, clientId, clientSecret, scopes: options.scopes ?? ['openid', 'https://www.googleapis.com/auth/userinfo.email', CLOUD_PLATFORM] })
  mkdirSync(configDir, { recursive: true })
  const json: Record<string, string> = { account: '', client_id: clientId, client_secret: clientSecret, refresh_token: refreshToken, type: 'authorized_user', universe_domain: 'googleapis.com' }
  if (options.quotaProjectId !== undefined) json.quota_project_id = options.quotaProjectId
  const file = join(configDir, 'application_default_credentials.json')
  writeFileSync(file, JSON.stringify(json, null, 2), { mode: 0o600 })
  return { file, refreshToken, clientSecret }
}

export interface ExternalAccountFiles {
  /** the credential configuration (GOOGLE_APPLICATION_CREDENTIALS) */
  file: string
  /** the OIDC subject token file it points at */
  tokenFile: string
  subjectToken: string
  /** principal://iam.googleapis.com/…/subject/SUB */
  principal: string
  audience: string
}

/**
 * A workload identity federation credential configuration as
 * `gcloud iam workload-identity-pools create-cred-config` writes it (file-sourced OIDC token),
 * with or without service-account impersonation.
 */
export function writeExternalAccount (world: GcpWorld, options: { sub: string, impersonate?: string, projectNumber?: string, pool?: string, provider?: string }): ExternalAccountFiles {
  const dir = scratch()
  const projectNumber = options.projectNumber ?? '123456789012'
  const pool = options.pool ?? 'ci-pool'
  const poolPath = `projects/${projectNumber}/locations/global/workloadIdentityPools/${pool}`
  const audience = `//iam.googleapis.com/${poolPath}/providers/${options.provider ?? 'oidc'}`
  const { privateKeyPem, publicKey } = rsaKeyPair()
  const poolPrincipalPrefix = `principal://iam.googleapis.com/${poolPath}`
  world.pools.set(audience, { publicKey, poolPrincipalPrefix })
  const now = Math.floor(Date.now() / 1000)
  const subjectToken = signJwt({ iss: 'https://token.actions.example', sub: options.sub, aud: audience, iat: now, exp: now + 3600 }, privateKeyPem)
  const tokenFile = join(dir, 'oidc-token')
  writeFileSync(tokenFile, subjectToken)
  const json: Record<string, unknown> = {
    universe_domain: 'googleapis.com',
    type: 'external_account',
    audience,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    token_url: 'https://sts.googleapis.com/v1/token',
    credential_source: { file: tokenFile, format: { type: 'text' } }
  }
  if (options.impersonate !== undefined) {
    json.service_account_impersonation_url = `https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/${options.impersonate}:generateAccessToken`
  }
  const file = join(dir, 'credential-configuration.json')
  writeFileSync(file, JSON.stringify(json, null, 2))
  return { file, tokenFile, subjectToken, principal: `${poolPrincipalPrefix}/subject/${options.sub}`, audience }
}
