import type { ServerResponse } from 'node:http'
import { createServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { applyHttpFaults, readBody, sendJson } from './http-common.js'
import { verifyJwt } from './jwt.js'
import type { GcpWorld } from './world.js'

export interface GoogleApisFake {
  port: number
  close: () => Promise<void>
}

const CLOUD_PLATFORM = 'https://www.googleapis.com/auth/cloud-platform'

/**
 * The HTTPS token endpoints of google-auth-library, on one TLS port, routed by Host:
 * oauth2.googleapis.com (/token: refresh_token and jwt-bearer grants; /tokeninfo),
 * sts.googleapis.com (/v1/token: workload identity federation token exchange) and
 * iamcredentials.googleapis.com (generateAccessToken: service-account impersonation).
 * Faults from world.faults.oauth.
 */
export async function startGoogleApisFake (world: GcpWorld, tls: { key: string, cert: string }): Promise<GoogleApisFake> {
  const hanging = new Set<ServerResponse>()
  const sockets = new Set<Socket>()
  const server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    (async () => {
      const host = String(req.headers.host ?? '').replace(/:\d+$/, '')
      const url = new URL(req.url ?? '/', `https://${host}`)
      const body = await readBody(req)
      if (await applyHttpFaults(world.faults.oauth, res, hanging)) return
      const form = new URLSearchParams(body)
      if (host === 'oauth2.googleapis.com' && url.pathname === '/token') return oauthToken(world, form, res)
      if (host === 'oauth2.googleapis.com' && url.pathname === '/tokeninfo') {
        world.counters.tokeninfo++
        const auth = req.headers.authorization
        const token = auth?.startsWith('Bearer ') === true ? auth.slice(7) : (url.searchParams.get('access_token') ?? form.get('access_token') ?? '')
        const grant = world.tokens.get(token)
        if (grant === undefined || world.tokeninfoDown) return sendJson(res, 400, { error: 'invalid_token', error_description: 'Invalid Value' })
        return sendJson(res, 200, {
          azp: 'fake-client',
          aud: 'fake-client',
          scope: grant.scopes.join(' '),
          exp: String(Math.floor(grant.expiresAt / 1000)),
          expires_in: Math.floor((grant.expiresAt - Date.now()) / 1000),
          ...(grant.principal.includes('@') ? { email: grant.principal, email_verified: 'true' } : {})
        })
      }
      if (host === 'sts.googleapis.com' && url.pathname === '/v1/token') return stsToken(world, form, res)
      const impersonate = /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/.exec(url.pathname)
      if (host === 'iamcredentials.googleapis.com' && impersonate !== null) {
        world.counters.generateAccessToken++
        const who = world.authenticate(req.headers.authorization)
        if ('error' in who) return sendJson(res, 401, { error: { code: 401, message: who.error, status: 'UNAUTHENTICATED' } })
        const target = decodeURIComponent(impersonate[1])
        const allowed = world.impersonation.get(who.principal)
        if (allowed?.has(target) !== true) {
          return sendJson(res, 403, { error: { code: 403, message: "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).", status: 'PERMISSION_DENIED' } })
        }
        let scopes = [CLOUD_PLATFORM]
        try { scopes = (JSON.parse(body) as { scope?: string[] }).scope ?? scopes } catch {}
        const { token, expiresIn } = world.issueToken(target, scopes)
        return sendJson(res, 200, { accessToken: token, expireTime: new Date(Date.now() + expiresIn * 1000).toISOString() })
      }
      sendJson(res, 404, { error: { code: 404, message: `fake google apis: no route for ${host}${url.pathname}`, status: 'NOT_FOUND' } })
    })().catch((err: unknown) => { res.destroy(err as Error) })
  })
  server.on('secureConnection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy()
      hanging.clear()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

function oauthToken (world: GcpWorld, form: URLSearchParams, res: ServerResponse): void {
  world.counters.oauthToken++
  const grantType = form.get('grant_type')
  if (grantType === 'refresh_token') {
    const user = world.refreshTokens.get(form.get('refresh_token') ?? '')
    if (user === undefined || user.clientId !== form.get('client_id') || user.clientSecret !== form.get('client_secret')) {
      return sendJson(res, 400, { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' })
    }
    const { token, expiresIn } = world.issueToken(user.email, user.scopes)
    return sendJson(res, 200, { access_token: token, expires_in: expiresIn, token_type: 'Bearer', scope: user.scopes.join(' ') })
  }
  if (grantType === 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
    const verified = verifyJwt(form.get('assertion') ?? '', (kid, payload) => world.serviceAccountKey(kid, payload.iss))
    if (!verified.ok) return sendJson(res, 400, { error: 'invalid_grant', error_description: `Invalid JWT: ${verified.reason}` })
    const { iss, aud, scope } = verified.payload
    if (aud !== 'https://oauth2.googleapis.com/token') return sendJson(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT: audience' })
    const { token, expiresIn } = world.issueToken(String(iss), typeof scope === 'string' ? scope.split(' ') : [CLOUD_PLATFORM])
    return sendJson(res, 200, { access_token: token, expires_in: expiresIn, token_type: 'Bearer' })
  }
  sendJson(res, 400, { error: 'unsupported_grant_type', error_description: `grant_type ${String(grantType)}` })
}

function stsToken (world: GcpWorld, form: URLSearchParams, res: ServerResponse): void {
  world.counters.sts++
  if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:token-exchange') {
    return sendJson(res, 400, { error: 'invalid_request', error_description: 'grant_type must be token-exchange' })
  }
  const audience = form.get('audience') ?? ''
  const pool = world.pools.get(audience)
  if (pool === undefined) return sendJson(res, 400, { error: 'invalid_target', error_description: 'The target service indicated by the "audience" parameters is invalid.' })
  const verified = verifyJwt(form.get('subject_token') ?? '', () => pool.publicKey)
  if (!verified.ok) return sendJson(res, 400, { error: 'invalid_grant', error_description: `The subject token is invalid: ${verified.reason}.` })
  const principal = `${pool.poolPrincipalPrefix}/subject/${String(verified.payload.sub)}`
  const { token, expiresIn } = world.issueToken(principal, (form.get('scope') ?? CLOUD_PLATFORM).split(' '))
  sendJson(res, 200, { access_token: token, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: expiresIn })
}
