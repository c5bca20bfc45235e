import { AsyncLocalStorage } from 'node:async_hooks'
import { subscribe } from 'node:diagnostics_channel'
import type { ClientRequest } from 'node:http'

// Bounding the chain: the SDK's container provider has no abort and only a warning timeout, so
// a credentials endpoint that accepts and never answers would keep the process alive for ever.
// Every HTTP request started inside `run` (found through its async context) is destroyed when
// the step's signal aborts and on close.

const REQUEST_START = 'http.client.request.start'

interface RequestScope {
  owner: InFlightRequests
  requests: Set<ClientRequest>
  /** the step was aborted: a request started later in it (a chain falling through) dies at once */
  ended?: string
}

// One subscriber for the process; it only looks at requests started inside a tracked step.
const scopes = new AsyncLocalStorage<RequestScope>()
let listening = false
function onRequestStart (message: unknown): void {
  const scope = scopes.getStore()
  if (scope !== undefined) scope.owner.track(scope, (message as { request: ClientRequest }).request)
}

export class InFlightRequests {
  private readonly open = new Set<ClientRequest>()
  private closed = false

  /** Runs `task`; every HTTP request it starts is destroyed when `signal` aborts or on close(). */
  async run<T>(signal: AbortSignal, task: () => Promise<T>): Promise<T> {
    if (!listening) {
      subscribe(REQUEST_START, onRequestStart)
      listening = true
    }
    const scope: RequestScope = { owner: this, requests: new Set() }
    const abort = (): void => {
      scope.ended = 'the startup deadline passed'
      destroyAll(scope.requests, scope.ended)
    }
    if (signal.aborted) abort()
    else signal.addEventListener('abort', abort, { once: true })
    try {
      return await scopes.run(scope, task)
    } finally {
      signal.removeEventListener('abort', abort)
    }
  }

  /** @internal called by the channel subscriber */
  track (scope: RequestScope, request: ClientRequest): void {
    const ended = this.closed ? 'fastify-cloud-secrets closed' : scope.ended
    if (ended !== undefined) {
      process.nextTick(() => { destroyAll(new Set([request]), ended) })
      return
    }
    scope.requests.add(request)
    this.open.add(request)
    request.once('close', () => {
      scope.requests.delete(request)
      this.open.delete(request)
    })
  }

  get size (): number {
    return this.open.size
  }

  /** Destroys every request still open, and any a tracked step starts from now on. */
  close (): void {
    this.closed = true
    destroyAll(this.open, 'fastify-cloud-secrets closed')
  }
}

function destroyAll (requests: Set<ClientRequest>, why: string): void {
  for (const request of [...requests]) {
    request.destroy(Object.assign(new Error(`request aborted: ${why}`), { name: 'AbortError' }))
  }
}
