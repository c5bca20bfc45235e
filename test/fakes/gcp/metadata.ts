import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { applyHttpFaults, sendJson } from './http-common.js'
import type { GcpWorld } from './world.js'

export interface MetadataFake {
  port: number
  /** host:port, the value for GCE_METADATA_HOST */
  host: string
  close: () => Promise<void>
}

/**
 * The GCE / Cloud Run / GKE metadata server: requests must carry `Metadata-Flavor: Google`
 * and every answer carries it back. Serves project-id, the default service account's email
 * and access tokens (optionally for ?scopes=). Faults from world.faults.metadata.
 */
export async function startMetadataFake (world: GcpWorld): Promise<MetadataFake> {
  const hanging = new Set<ServerResponse>()
  const sockets = new Set<Socket>()
  const flavor = { 'Metadata-Flavor': 'Google' }
  const server = createServer((req, res) => {
    (async () => {
      const url = new URL(req.url ?? '/', 'http://metadata.google.internal')
      const path = url.pathname.replace(/^\/computeMetadata\/v1\/?/, '')
      world.counters.metadata.set(path, (world.counters.metadata.get(path) ?? 0) + 1)
      world.counters.events.push(`metadata asked ${path}`)
      res.once('finish', () => { world.counters.events.push(`metadata ${path}`) })
      if (await applyHttpFaults(world.faults.metadata, res, hanging)) return
      if (req.headers['metadata-flavor'] !== 'Google') {
        res.writeHead(403, { 'content-type': 'text/html', ...flavor })
        res.end('Missing Metadata-Flavor:Google header.')
        return
      }
      const text = (body: string): void => {
        res.writeHead(200, { 'content-type': 'application/text', ...flavor })
        res.end(body)
      }
      const email = world.metadataIdentity.email
      switch (path) {
        case '':
        case 'instance':
        case 'instance/':
          return text('attributes/\nhostname\nid\nservice-accounts/\nzone\n')
        case 'project/project-id':
          return text(world.metadataIdentity.projectId)
        case 'project/numeric-project-id':
          return text(world.projectNumber(world.metadataIdentity.projectId))
        case 'universe/universe-domain':
          return text('googleapis.com')
        case 'instance/service-accounts/default/email':
        case `instance/service-accounts/${email}/email`:
          return text(email)
        case 'instance/service-accounts/default/token':
        case `instance/service-accounts/${email}/token`: {
          const scopes = url.searchParams.get('scopes')?.split(',') ?? ['https://www.googleapis.com/auth/cloud-platform']
          const { token, expiresIn } = world.issueToken(email, scopes)
          return sendJson(res, 200, { access_token: token, expires_in: expiresIn, token_type: 'Bearer' }, flavor)
        }
        default:
          res.writeHead(404, { 'content-type': 'text/html', ...flavor })
          res.end('Not Found')
      }
    })().catch((err: unknown) => { res.destroy(err as Error) })
  })
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    port,
    host: `127.0.0.1:${port}`,
    close: async () => {
      for (const s of sockets) s.destroy()
      hanging.clear()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
