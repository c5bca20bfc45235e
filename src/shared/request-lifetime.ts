import { AsyncLocalStorage } from 'node:async_hooks'
import { subscribe } from 'node:diagnostics_channel'
import type { ClientRequest } from 'node:http'

/**
 * Ties every request a provider makes to the provider's lifetime: a request ends when its own
 * signal aborts, when the startup deadline passes, or when the provider closes — whichever comes
 * first — so a hung endpoint cannot keep the process alive. Two ways in, for the two kinds of
 * SDK code we meet:
 *
 * - `link(signal)`: for transports that take an AbortSignal (Azure's HttpClient, gaxios). One
 *   listener per watched signal aborts every live request, however many run at once (no
 *   listener per request on a shared signal, so no MaxListenersExceededWarning).
 * - `track(signal, task)`: for SDK code that takes no signal (the AWS container and IMDS credential
 *   providers): every node:http request `task` starts, found through its async context on the
 *   `http.client.request.start` diagnostics channel, is destroyed when `signal` aborts or on close.
 */
export class RequestLifetime {
  private readonly closing = new AbortController()
  private deadline?: AbortSignal
  /** the live linked requests: one listener per lifetime signal aborts them all */
  private readonly active = new Set<AbortController>()
  private readonly watched = new WeakSet<AbortSignal>()
  /** node:http requests started inside track() and still open */
  private readonly open = new Set<ClientRequest>()

  constructor (private readonly owner = 'fastify-cloud-secrets') {
    this.watch(this.closing.signal)
  }

  /** from now on, requests also end when `signal` aborts (the startup deadline) */
  bindDeadline (signal: AbortSignal): void {
    this.deadline = signal
    this.watch(signal)
  }

  get closed (): boolean {
    return this.closing.signal.aborted
  }

  /** aborts when the provider closes */
  get signal (): AbortSignal {
    return this.closing.signal
  }

  /** how many tracked node:http requests are still open */
  get size (): number {
    return this.open.size
  }

  /** a signal that aborts with `signal`, the deadline or close(); call release() when the request is done */
  link (signal?: AbortSignalLikeish): { signal: AbortSignal, release: () => void } {
    const controller = new AbortController()
    const abort = (): void => { controller.abort() }
    this.active.add(controller)
    if (this.closed || this.deadline?.aborted === true || signal?.aborted === true) abort()
    else signal?.addEventListener('abort', abort, { once: true })
    return {
      signal: controller.signal,
      release: () => {
        this.active.delete(controller)
        signal?.removeEventListener('abort', abort)
      }
    }
  }

  /** Runs `task`; every node:http request it starts is destroyed when `signal` aborts or on close(). */
  async track<T>(signal: AbortSignal, task: () => Promise<T>): Promise<T> {
    listen()
    const scope: TrackedScope = { owner: this, requests: new Set() }
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

  /** @internal called by the channel subscriber for a request started inside track() */
  adopt (scope: TrackedScope, request: ClientRequest): void {
    const ended = this.closed ? `${this.owner} closed` : scope.ended
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

  /** Ends every request in flight, and any started from now on. */
  close (): void {
    if (!this.closed) this.closing.abort(new Error(`${this.owner} closed`))
    destroyAll(this.open, `${this.owner} closed`)
  }

  private watch (signal: AbortSignal): void {
    if (this.watched.has(signal)) return
    this.watched.add(signal)
    signal.addEventListener('abort', () => {
      for (const controller of this.active) controller.abort()
    }, { once: true })
  }
}

/** what link() needs of a signal (Azure's AbortSignalLike, a DOM AbortSignal) */
interface AbortSignalLikeish {
  readonly aborted: boolean
  addEventListener: (type: 'abort', listener: () => void, options?: { once?: boolean }) => void
  removeEventListener: (type: 'abort', listener: () => void) => void
}

interface TrackedScope {
  owner: RequestLifetime
  requests: Set<ClientRequest>
  /** the step was aborted: a request started later in it (a chain falling through) dies at once */
  ended?: string
}

const REQUEST_START = 'http.client.request.start'
// One subscriber for the process; it only looks at requests started inside a tracked step.
const scopes = new AsyncLocalStorage<TrackedScope>()
let listening = false
function listen (): void {
  if (listening) return
  subscribe(REQUEST_START, (message: unknown) => {
    const scope = scopes.getStore()
    if (scope !== undefined) scope.owner.adopt(scope, (message as { request: ClientRequest }).request)
  })
  listening = true
}

function destroyAll (requests: Set<ClientRequest>, why: string): void {
  for (const request of [...requests]) {
    request.destroy(Object.assign(new Error(`request aborted: ${why}`), { name: 'AbortError' }))
  }
}
