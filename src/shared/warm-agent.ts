import https from 'node:https'
import { isIP, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'

/**
 * A keep-alive https.Agent that can open its connections before the first request: started
 * while the identity resolves, the TCP + TLS handshakes (two round trips on a real network)
 * overlap the credential round trip instead of following it. A request then takes a warmed
 * connection to its host, or opens one as usual. Warmed connections nobody took are closed by
 * `release()` (after startup) and `destroy()`; they never keep the process alive.
 */
export class WarmAgent extends https.Agent {
  private readonly warmed = new Map<string, Socket[]>()

  constructor (options: https.AgentOptions = {}) {
    super({ keepAlive: true, ...options })
  }

  /** opens up to `count` connections to the origin of `url` (https only), beside what is already warm; returns the ones it opened */
  warm (url: string | URL, count: number): Socket[] {
    const target = typeof url === 'string' ? new URL(url) : url
    if (target.protocol !== 'https:' || count <= 0) return []
    const host = target.hostname.replace(/^\[|\]$/g, '')
    const port = target.port === '' ? 443 : Number(target.port)
    const key = `${host}:${port}`
    const list = this.warmed.get(key) ?? []
    this.warmed.set(key, list)
    const open = (base: Record<string, unknown>): Socket => (https.Agent.prototype as unknown as { createConnection: (o: unknown) => Socket }).createConnection.call(this, base)
    const opened: Socket[] = []
    for (let i = list.length; i < count; i++) {
      const socket = open({ ...this.options, host, port, servername: isIP(host) === 0 ? host : undefined })
      // a warm connection that fails is simply not used: the request opens its own and reports
      socket.on('error', () => {})
      socket.unref()
      list.push(socket)
      opened.push(socket)
    }
    return opened
  }

  override createConnection (options: { host?: string, hostname?: string, port?: number | string }, callback?: (err: Error | null, socket: Duplex) => void): Duplex | undefined {
    const list = this.warmed.get(`${options.host ?? options.hostname ?? ''}:${Number(options.port ?? 443)}`) ?? []
    for (let socket = list.shift(); socket !== undefined; socket = list.shift()) {
      if (socket.destroyed) continue
      // from here on the agent owns it: kept alive (and unref'd while free) like any other
      socket.ref()
      return socket
    }
    return (https.Agent.prototype as unknown as { createConnection: (o: unknown, cb?: unknown) => Duplex }).createConnection.call(this, options, callback)
  }

  /** closes every warmed connection no request took */
  release (): void {
    for (const list of this.warmed.values()) for (const socket of list.splice(0)) socket.destroy()
  }

  override destroy (): void {
    this.release()
    super.destroy()
  }
}
