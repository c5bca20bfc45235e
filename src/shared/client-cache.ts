/**
 * The one memoisation rule for the SDK clients a provider builds for the app
 * (`app.cloud.<cloud>.client(Ctor, ...args)`): one instance per constructor and per arguments.
 * Arguments compare by value when they are plain data (strings, numbers, booleans, null,
 * undefined, arrays and plain objects, key order ignored) and by identity otherwise (the
 * credential, an agent, a function): the same call returns the same client, and a call that
 * differs in any argument gets its own client, never one built for other options.
 * Every instance is kept so the provider can close them all.
 */
export class ClientCache {
  private readonly byCtor = new Map<unknown, Map<string, object>>()
  private readonly identities = new WeakMap<object, number>()
  private readonly symbols = new Map<symbol, number>()
  private nextIdentity = 1
  private closed = false

  constructor (private readonly what: string) {}

  get<T extends object>(Ctor: unknown, args: readonly unknown[], build: () => T): T {
    if (this.closed) throw new Error(`fastify-cloud-secrets: ${this.what} called after the app closed`)
    const key = this.keyOf(args)
    let perCtor = this.byCtor.get(Ctor)
    if (perCtor === undefined) {
      perCtor = new Map()
      this.byCtor.set(Ctor, perCtor)
    }
    const hit = perCtor.get(key)
    if (hit !== undefined) return hit as T
    const client = build()
    perCtor.set(key, client)
    return client
  }

  /** every client built so far */
  all (): object[] {
    return [...this.byCtor.values()].flatMap((perCtor) => [...perCtor.values()])
  }

  /** the constructors' names, for a summary that prints no client */
  names (): string[] {
    return [...this.byCtor.keys()].map((ctor) => (ctor as { name?: unknown }).name).filter((name): name is string => typeof name === 'string')
  }

  /** forgets every client (the caller closes them first) and refuses new ones */
  close (): void {
    this.closed = true
    this.byCtor.clear()
  }

  private keyOf (args: readonly unknown[]): string {
    const seen = new Set<object>()
    const walk = (value: unknown): string => {
      if (value === null) return 'null'
      switch (typeof value) {
        case 'undefined': return 'u'
        case 'string': return JSON.stringify(value)
        case 'number': case 'boolean': case 'bigint': return `${(typeof value)[0]}${String(value)}`
        case 'symbol': return `$${this.symbolIdentity(value)}`
        case 'function': return `#${this.identityOf(value)}`
        default: break
      }
      const object = value as object
      const proto: unknown = Object.getPrototypeOf(object)
      const plain = Array.isArray(object) || proto === null || proto === Object.prototype
      if (!plain || seen.has(object)) return `#${this.identityOf(object)}`
      seen.add(object)
      try {
        if (Array.isArray(object)) return `[${object.map(walk).join(',')}]`
        const record = object as Record<string, unknown>
        return `{${Object.keys(record).sort().map((k) => `${JSON.stringify(k)}:${walk(record[k])}`).join(',')}}`
      } finally {
        seen.delete(object)
      }
    }
    return walk([...args])
  }

  private symbolIdentity (value: symbol): number {
    let id = this.symbols.get(value)
    if (id === undefined) {
      id = this.nextIdentity++
      this.symbols.set(value, id)
    }
    return id
  }

  private identityOf (value: object): number {
    let id = this.identities.get(value)
    if (id === undefined) {
      id = this.nextIdentity++
      this.identities.set(value, id)
    }
    return id
  }
}
