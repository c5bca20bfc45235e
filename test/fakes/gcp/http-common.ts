import type { IncomingMessage, ServerResponse } from 'node:http'
import type { HttpFaults } from './world.js'

export async function readBody (req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

export function sendJson (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers })
  res.end(text)
}

/**
 * Applies hang / latency / one-shot failures; returns true when the request was handled
 * (failed or left hanging) and must not be served.
 */
export async function applyHttpFaults (faults: HttpFaults, res: ServerResponse, hanging: Set<ServerResponse>): Promise<boolean> {
  if (faults.hang === true) {
    hanging.add(res)
    return true
  }
  if (faults.latencyMs !== undefined && faults.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, faults.latencyMs))
  const status = faults.failures?.shift()
  if (status !== undefined) {
    sendJson(res, status, { error: { code: status, message: `injected failure ${status}`, status: status === 429 ? 'RESOURCE_EXHAUSTED' : 'UNAVAILABLE' } })
    return true
  }
  return false
}
