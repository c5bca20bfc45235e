import type { Server, Socket } from 'node:net'
import { performance } from 'node:perf_hooks'

/**
 * The connection cost a real network charges and loopback does not: TCP + TLS handshake, two
 * round trips. A request on a connection younger than `costMs` waits until the connection is
 * that old, then the fake's latency applies as usual. An HTTP/2 session is one connection, so
 * it pays once. `accepted` counts connections, for "connections per boot".
 */
export class ConnectionClock {
  accepted = 0
  private readonly born = new Map<string, number>()

  /** records every TCP connection `server` accepts (a TLS server: before its handshake) */
  watch (server: Server): void {
    server.on('connection', (socket: Socket) => {
      const key = `${socket.remoteAddress ?? ''}:${String(socket.remotePort)}`
      this.born.set(key, performance.now())
      this.accepted++
      socket.once('close', () => this.born.delete(key))
    })
  }

  /** waits until the connection from `remote` (address:port) is `costMs` old */
  async settle (costMs: number | undefined, remote: string): Promise<void> {
    if (costMs === undefined || costMs <= 0) return
    const born = this.born.get(remote)
    if (born === undefined) return
    const wait = born + costMs - performance.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
  }
}

/** `address:port` of the peer of a server-side socket, as `settle` keys it */
export function peerOf (socket: { remoteAddress?: string, remotePort?: number }): string {
  return `${socket.remoteAddress ?? ''}:${String(socket.remotePort)}`
}
