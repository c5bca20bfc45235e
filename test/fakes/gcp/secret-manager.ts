import * as grpc from '@grpc/grpc-js'
import * as protoLoader from '@grpc/proto-loader'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import type { Server as NetServer } from 'node:net'
import { ConnectionClock } from '../connection-cost.js'
import { crc32cBitwise } from './jwt.js'
import type { FakeStatus, GcpWorld } from './world.js'

const require = createRequire(import.meta.url)
const SECRET_MANAGER_PROTOS = join(dirname(require.resolve('@google-cloud/secret-manager/package.json')), 'build', 'protos')
// google-gax's exports hide package.json: walk up from its main file (build/src/index.js)
const GAX_PROTOS = join(dirname(require.resolve('google-gax')), '..', 'protos')

const Status = grpc.status

interface ServiceDefinition { service: grpc.ServiceDefinition }
let service: grpc.ServiceDefinition | undefined
function secretManagerService (): grpc.ServiceDefinition {
  if (service !== undefined) return service
  const definition = protoLoader.loadSync('google/cloud/secretmanager/v1/service.proto', {
    includeDirs: [SECRET_MANAGER_PROTOS, GAX_PROTOS],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true
  })
  const loaded = grpc.loadPackageDefinition(definition) as unknown as { google: { cloud: { secretmanager: { v1: { SecretManagerService: ServiceDefinition } } } } }
  service = loaded.google.cloud.secretmanager.v1.SecretManagerService.service
  return service
}

const VERSION_NAME = /^projects\/([^/]+)\/(?:locations\/([^/]+)\/)?secrets\/([^/]+)\/versions\/([^/]+)$/

export interface SecretManagerFake {
  port: number
  /** HTTP/2 sessions (TCP connections) accepted */
  connections: ConnectionClock
  close: () => Promise<void>
}

/**
 * Secret Manager over gRPC with TLS, speaking the real google.cloud.secretmanager.v1 protocol
 * (the proto files the SDK ships). AccessSecretVersion checks each caller's bearer token or
 * self-signed JWT, the caller's grants, the regional endpoint of regional secrets, and serves
 * the payload with its CRC32C. Faults come from world.faults.secretManager.
 */
export async function startSecretManagerFake (world: GcpWorld, tls: { key: string, cert: string }): Promise<SecretManagerFake> {
  const server = new grpc.Server()
  const hanging = new Set<() => void>()
  const connections = new ConnectionClock()
  server.addService(secretManagerService(), {
    accessSecretVersion (call: grpc.ServerUnaryCall<{ name?: string }, unknown>, callback: grpc.sendUnaryData<unknown>) {
      const name = call.request.name ?? ''
      world.counters.access.set(name, (world.counters.access.get(name) ?? 0) + 1)
      const host = call.getHost()
      world.counters.hosts.push(host)
      const faults = world.faults.secretManager
      if (faults.hang === true) {
        // never answer; the client's deadline or close() must end the call
        hanging.add(() => { callback({ code: Status.UNAVAILABLE, details: 'fake server closing' }) })
        return
      }
      const answer = (): void => { callback(...accessSecretVersion(world, name, host, call.metadata)) }
      const delayed = (): void => {
        if (faults.latencyMs !== undefined && faults.latencyMs > 0) setTimeout(answer, faults.latencyMs)
        else answer()
      }
      if (faults.connectionMs !== undefined && faults.connectionMs > 0) connections.settle(faults.connectionMs, call.getPeer()).then(delayed, delayed)
      else delayed()
    }
  })
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(tls.key), cert_chain: Buffer.from(tls.cert) }], false), (err, p) => {
      if (err !== null) reject(err)
      else resolve(p)
    })
  })
  // grpc-js has no connection event: watch the HTTP/2 servers it bound (a private field, test-only)
  for (const h2 of (server as unknown as { http2Servers: Map<NetServer, unknown> }).http2Servers.keys()) {
    connections.watch(h2)
    h2.on('connection', () => { world.counters.events.push('secret-manager tcp') })
    h2.on('secureConnection', () => { world.counters.events.push('secret-manager tls') })
  }
  return {
    port,
    connections,
    close: async () => {
      hanging.clear()
      server.forceShutdown()
    }
  }
}

type UnaryAnswer = [grpc.ServiceError | null, unknown?]

function status (code: number, details: string, detailsBin?: Buffer): UnaryAnswer {
  const metadata = new grpc.Metadata()
  if (detailsBin !== undefined) metadata.set('grpc-status-details-bin', detailsBin)
  const err = Object.assign(new Error(details), { code, details, metadata }) as grpc.ServiceError
  return [err]
}

/** google.rpc.Status { code, message, details: [Any(RetryInfo), Any(ErrorInfo)] }, protobuf-encoded by hand */
function statusDetails (failure: FakeStatus): Buffer | undefined {
  if (failure.retryDelaySeconds === undefined && failure.reason === undefined) return undefined
  const varint = (n: number): Buffer => {
    const out: number[] = []
    do { let b = n & 0x7f; n = Math.floor(n / 128); if (n > 0) b |= 0x80; out.push(b) } while (n > 0)
    return Buffer.from(out)
  }
  const field = (tag: number, payload: Buffer): Buffer => Buffer.concat([Buffer.from([(tag << 3) | 2]), varint(payload.length), payload])
  const any = (type: string, value: Buffer): Buffer => field(3, Buffer.concat([field(1, Buffer.from(`type.googleapis.com/${type}`)), field(2, value)]))
  const parts = [Buffer.concat([Buffer.from([0x08]), varint(failure.code)]), field(2, Buffer.from(failure.details))]
  if (failure.retryDelaySeconds !== undefined) parts.push(any('google.rpc.RetryInfo', field(1, Buffer.concat([Buffer.from([0x08]), varint(failure.retryDelaySeconds)]))))
  if (failure.reason !== undefined) parts.push(any('google.rpc.ErrorInfo', Buffer.concat([field(1, Buffer.from(failure.reason)), field(2, Buffer.from('googleapis.com'))])))
  return Buffer.concat(parts)
}

function accessSecretVersion (world: GcpWorld, name: string, host: string, metadata: grpc.Metadata): UnaryAnswer {
  const faults = world.faults.secretManager
  const failure = faults.failures?.shift() ?? faults.always
  if (failure !== undefined) return status(failure.code, failure.details, statusDetails(failure))

  const authorization = metadata.get('authorization')[0]
  const who = world.authenticate(typeof authorization === 'string' ? authorization : undefined)
  if ('error' in who) return status(Status.UNAUTHENTICATED, who.error)
  world.counters.authKinds.push(who.kind)

  const m = VERSION_NAME.exec(name)
  if (m === null) return status(Status.INVALID_ARGUMENT, `Invalid resource field value in the request: name "${name}" is not a secret version name.`)
  const [, project, location, secretId, versionText] = m
  const secretName = location === undefined ? `projects/${project}/secrets/${secretId}` : `projects/${project}/locations/${location}/secrets/${secretId}`
  const number = world.projectNumber(world.canonical(`projects/${project}`).split('/')[1])
  const shown = location === undefined ? `projects/${number}/secrets/${secretId}` : `projects/${number}/locations/${location}/secrets/${secretId}`

  if (!world.mayRead(who.principal, secretName)) {
    return status(Status.PERMISSION_DENIED, `Permission 'secretmanager.versions.access' denied for resource '${name}' (or it may not exist).`)
  }
  const hostName = host.replace(/:\d+$/, '')
  if (location !== undefined && hostName !== `secretmanager.${location}.rep.googleapis.com`) {
    return status(Status.NOT_FOUND, `Secret [${shown}] not found or has no versions. Regional secrets are served by secretmanager.${location}.rep.googleapis.com.`)
  }
  if (location === undefined && hostName !== 'secretmanager.googleapis.com' && hostName.endsWith('.rep.googleapis.com')) {
    return status(Status.NOT_FOUND, `Secret [${shown}] not found or has no versions.`)
  }
  const secret = world.secrets.get(world.canonical(secretName))
  if (secret === undefined || secret.versions.length === 0) return status(Status.NOT_FOUND, `Secret [${shown}] not found or has no versions.`)

  let version
  if (versionText === 'latest') {
    version = [...secret.versions].reverse().find((v) => v.state === 'ENABLED')
    if (version === undefined) return status(Status.FAILED_PRECONDITION, `Secret [${shown}] has no enabled versions.`)
  } else {
    const n = /^\d+$/.test(versionText) ? Number(versionText) : secret.aliases.get(versionText)
    version = n === undefined ? undefined : secret.versions.find((v) => v.version === n)
    if (version === undefined) return status(Status.NOT_FOUND, `Secret Version [${shown}/versions/${versionText}] not found.`)
  }
  if (version.state !== 'ENABLED') return status(Status.FAILED_PRECONDITION, `Secret Version [${shown}/versions/${version.version}] is in ${version.state} state.`)

  const crc = crc32cBitwise(version.data)
  const payload: Record<string, unknown> = { data: version.data }
  if (faults.noCrc !== true) payload.dataCrc32c = String(faults.badCrc === true ? (crc ^ 0x1) >>> 0 : crc)
  return [null, { name: `${shown}/versions/${version.version}`, payload }]
}
