import type * as GrpcJs from '@grpc/grpc-js'

/**
 * The startup reads, AccessSecretVersion over gRPC with grpc-js itself (the copy in the Secret
 * Manager SDK's own tree): no generated client, no protobuf descriptors. The SDK's client has to
 * load and compile its descriptors (about 100 ms of CPU) before its channel can open, so its
 * handshake follows the whole SDK import; this one opens its channel as soon as grpc-js is loaded
 * (about a sixth of the import), and the handshake rides beside the rest. Same wire as the SDK:
 * the request and response messages of google.cloud.secretmanager.v1, the routing header, the
 * credential's request headers on every call, google.rpc.Status details decoded as google-gax
 * does (RetryInfo → `statusDetails`, ErrorInfo → `reason`).
 */
export interface SecretReader {
  /** opens the channel to `endpoint` (no call, no token) */
  warm: (endpoint: string) => void
  /** AccessSecretVersion `name` at `endpoint`, with its own deadline */
  access: (endpoint: string, name: string, timeoutMs: number) => Promise<AccessResponse>
  close: () => void
}

export interface AccessResponse {
  name?: string
  payload?: { data?: Uint8Array, dataCrc32c?: string }
}

/** the headers a call carries (the credential's Authorization, quota project) */
export type RequestHeaders = (url: string) => Promise<Iterable<[string, string]> | Record<string, string>>

const METHOD = '/google.cloud.secretmanager.v1.SecretManagerService/AccessSecretVersion'

export function createSecretReader (grpc: typeof GrpcJs, headers: () => RequestHeaders | undefined): SecretReader {
  const clients = new Map<string, GrpcJs.Client>()
  // a closed channel lets its calls run on to their deadlines: close() cancels them
  const inFlight = new Set<GrpcJs.ClientUnaryCall>()
  let closed = false
  const callCredentials = grpc.credentials.createFromMetadataGenerator((params, callback) => {
    const source = headers()
    if (source === undefined) {
      callback(new Error('the gcp identity is not resolved yet'))
      return
    }
    source(params.service_url).then((h) => {
      const metadata = new grpc.Metadata()
      for (const [key, value] of Symbol.iterator in Object(h) ? h as Iterable<[string, string]> : Object.entries(h)) metadata.set(key.toLowerCase(), value)
      callback(null, metadata)
    }, (err: unknown) => { callback(err instanceof Error ? err : new Error(String(err))) })
  })
  const credentials = grpc.credentials.combineChannelCredentials(grpc.credentials.createSsl(), callCredentials)

  const clientFor = (endpoint: string): GrpcJs.Client => {
    let client = clients.get(endpoint)
    if (client === undefined) {
      if (closed) throw new Error('fastify-cloud-secrets: the gcp provider is closed')
      client = new grpc.Client(`${endpoint}:443`, credentials, {
        // the channel settings google-gax gives the Secret Manager client
        'grpc.max_receive_message_length': -1,
        'grpc.max_send_message_length': -1,
        'grpc.initial_reconnect_backoff_ms': 1000,
        // no DNS TXT lookup for a service config: Google APIs publish none, and it is one more query at boot
        'grpc.service_config_disable_resolution': 1,
        'grpc.primary_user_agent': 'fastify-cloud-secrets'
      })
      clients.set(endpoint, client)
    }
    return client
  }

  return {
    warm (endpoint) {
      if (!closed) clientFor(endpoint).getChannel().getConnectivityState(true)
    },
    async access (endpoint, name, timeoutMs) {
      const client = clientFor(endpoint)
      const metadata = new grpc.Metadata()
      metadata.set('x-goog-request-params', `name=${encodeURIComponent(name)}`)
      return await new Promise<AccessResponse>((resolve, reject) => {
        const call = client.makeUnaryRequest(METHOD, encodeRequest, decodeResponse, name, metadata, { deadline: Date.now() + timeoutMs }, (err, response) => {
          inFlight.delete(call)
          if (err !== null && err !== undefined) reject(withStatusDetails(err))
          else resolve(response as AccessResponse)
        })
        inFlight.add(call)
      })
    },
    close () {
      closed = true
      for (const call of inFlight) call.cancel()
      inFlight.clear()
      for (const client of clients.values()) client.close()
      clients.clear()
    }
  }
}

// --- the two messages, by hand (protobuf wire format) ---

/** AccessSecretVersionRequest { string name = 1; } */
function encodeRequest (name: string): Buffer {
  const bytes = Buffer.from(name, 'utf8')
  return Buffer.concat([Buffer.from([0x0a]), varint(bytes.length), bytes])
}

function varint (n: number): Buffer {
  const out: number[] = []
  do {
    let b = n & 0x7f
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return Buffer.from(out)
}

/** A protobuf reader over one message; throws on anything malformed (never quoting the bytes). */
class Wire {
  private at = 0
  constructor (private readonly buf: Uint8Array) {}

  get done (): boolean {
    return this.at >= this.buf.length
  }

  varint (): bigint {
    let result = 0n
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.at >= this.buf.length) throw new Error('truncated varint')
      const b = this.buf[this.at++]
      result |= BigInt(b & 0x7f) << shift
      if ((b & 0x80) === 0) return result
    }
    throw new Error('varint too long')
  }

  bytes (): Uint8Array {
    const length = Number(this.varint())
    if (length > this.buf.length - this.at) throw new Error('truncated field')
    const out = this.buf.subarray(this.at, this.at + length)
    this.at += length
    return out
  }

  /** each field as [number, wire type]; the caller reads or skips its value */
  * fields (): Generator<[number, number]> {
    while (!this.done) {
      const key = Number(this.varint())
      yield [key >>> 3, key & 7]
    }
  }

  skip (wireType: number): void {
    if (wireType === 0) this.varint()
    else if (wireType === 1) this.advance(8)
    else if (wireType === 2) this.bytes()
    else if (wireType === 5) this.advance(4)
    else throw new Error(`unsupported wire type ${wireType}`)
  }

  private advance (n: number): void {
    if (n > this.buf.length - this.at) throw new Error('truncated field')
    this.at += n
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** AccessSecretVersionResponse { string name = 1; SecretPayload payload = 2; } SecretPayload { bytes data = 1; optional int64 data_crc32c = 2; } */
function decodeResponse (buf: Buffer): AccessResponse {
  try {
    const out: AccessResponse = {}
    const wire = new Wire(buf)
    for (const [field, type] of wire.fields()) {
      if (field === 1 && type === 2) out.name = utf8.decode(wire.bytes())
      else if (field === 2 && type === 2) out.payload = decodePayload(wire.bytes())
      else wire.skip(type)
    }
    return out
  } catch (err) {
    // grpc-js turns this into an INTERNAL status; the message names the problem, never the bytes
    throw new Error(`malformed AccessSecretVersionResponse (${(err as Error).message})`)
  }
}

function decodePayload (buf: Uint8Array): NonNullable<AccessResponse['payload']> {
  const payload: NonNullable<AccessResponse['payload']> = {}
  const wire = new Wire(buf)
  for (const [field, type] of wire.fields()) {
    if (field === 1 && type === 2) payload.data = Buffer.from(wire.bytes())
    else if (field === 2 && type === 0) payload.dataCrc32c = BigInt.asIntN(64, wire.varint()).toString()
    else wire.skip(type)
  }
  return payload
}

/**
 * google.rpc.Status from `grpc-status-details-bin`, as google-gax exposes it: `statusDetails`
 * with RetryInfo's `retryDelay` ({ seconds, nanos }), and ErrorInfo's `reason` / `domain`.
 */
function withStatusDetails (err: GrpcJs.ServiceError): GrpcJs.ServiceError & { statusDetails?: unknown[], reason?: string, domain?: string } {
  const raw = err.metadata?.get('grpc-status-details-bin')[0]
  if (raw === undefined || typeof raw === 'string') return err
  const out = err as GrpcJs.ServiceError & { statusDetails?: unknown[], reason?: string, domain?: string }
  try {
    const details: unknown[] = []
    const status = new Wire(raw)
    for (const [field, type] of status.fields()) {
      if (field !== 3 || type !== 2) { status.skip(type); continue }
      const any = new Wire(status.bytes())
      let typeUrl = ''
      let value: Uint8Array = new Uint8Array()
      for (const [f, t] of any.fields()) {
        if (f === 1 && t === 2) typeUrl = utf8.decode(any.bytes())
        else if (f === 2 && t === 2) value = any.bytes()
        else any.skip(t)
      }
      if (typeUrl.endsWith('/google.rpc.RetryInfo')) details.push({ retryDelay: decodeRetryDelay(value) })
      else if (typeUrl.endsWith('/google.rpc.ErrorInfo')) {
        const info = decodeErrorInfo(value)
        details.push(info)
        out.reason ??= info.reason
        out.domain ??= info.domain
      }
    }
    out.statusDetails = details
  } catch {
    // undecodable details: the status code and message still classify the error
  }
  return out
}

function decodeRetryDelay (buf: Uint8Array): { seconds: number, nanos: number } {
  const delay = { seconds: 0, nanos: 0 }
  const info = new Wire(buf)
  for (const [field, type] of info.fields()) {
    if (field !== 1 || type !== 2) { info.skip(type); continue }
    const duration = new Wire(info.bytes())
    for (const [f, t] of duration.fields()) {
      if (f === 1 && t === 0) delay.seconds = Number(BigInt.asIntN(64, duration.varint()))
      else if (f === 2 && t === 0) delay.nanos = Number(BigInt.asIntN(32, duration.varint()))
      else duration.skip(t)
    }
  }
  return delay
}

function decodeErrorInfo (buf: Uint8Array): { reason?: string, domain?: string } {
  const info: { reason?: string, domain?: string } = {}
  const wire = new Wire(buf)
  for (const [field, type] of wire.fields()) {
    if (field === 1 && type === 2) info.reason = utf8.decode(wire.bytes())
    else if (field === 2 && type === 2) info.domain = utf8.decode(wire.bytes())
    else wire.skip(type)
  }
  return info
}
