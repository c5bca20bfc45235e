import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import type { Socket } from 'node:net'

// What comes next in a boot is the SDK import: tens of milliseconds of synchronous loading, during
// which no callback runs. A connection started just before it has not even looked up its host
// yet, so its handshakes would follow the import. Yielding until the connections are past their
// DNS lookup (their SYN sent) lets the TCP and TLS handshakes ride beside the import instead.

/** Resolves when each of `sockets` has got past its DNS lookup (`lookup`, `connect` or `error`), or after `maxMs`. */
export async function untilLookedUp (sockets: readonly Socket[], maxMs: number): Promise<void> {
  const waiting = sockets.filter((s) => s.connecting && !s.destroyed)
  if (waiting.length === 0) return
  await new Promise<void>((resolve) => {
    let left = waiting.length
    const timer = setTimeout(resolve, maxMs)
    for (const socket of waiting) {
      let passed = false
      const pass = (): void => {
        if (passed) return
        passed = true
        if (--left === 0) {
          clearTimeout(timer)
          resolve()
        }
      }
      socket.once('lookup', pass)
      socket.once('connect', pass)
      socket.once('error', pass)
    }
  })
}

/**
 * Runs `open` (which starts a connection that resolves its host itself first, as a gRPC channel
 * does) and resolves once a TCP socket has been created meanwhile (Node's `net.client.socket`
 * channel: to an address already resolved, whose SYN goes out on the next tick), or after `maxMs`.
 */
export async function untilSocketOpened (open: () => void, maxMs: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      unsubscribe('net.client.socket', onSocket)
      setImmediate(resolve)
    }
    const onSocket = (): void => { done() }
    const timer = setTimeout(done, maxMs)
    subscribe('net.client.socket', onSocket)
    open()
  })
}
