import type { Logger } from '../../types.js'

/** The SDK's logger contract, quiet except warnings, into the app's logger. */
export function sdkLogger (log: Logger): { trace: () => void, debug: () => void, info: () => void, warn: (...args: unknown[]) => void, error: (...args: unknown[]) => void } {
  const warn = (...args: unknown[]): void => {
    const entry = sdkLogEntry(args[0])
    log.warn({ sdk: 'aws', ...entry.fields }, 'aws sdk: %s', entry.text)
  }
  return { trace () {}, debug () {}, info () {}, warn, error: warn }
}

/**
 * What the SDK hands its logger: a string (deprecation notes, warnings) or, from its logger
 * middleware on a failed call, `{ clientName, commandName, input, error, metadata }`. Only the
 * client, the command and the error's name/code/status/request id are kept: `input` can carry
 * secret ids and, for other commands, values; an error message can quote input.
 */
export function sdkLogEntry (arg: unknown): { text: string, fields: Record<string, string | number> } {
  if (typeof arg !== 'object' || arg === null) return { text: String(arg).split('\n')[0].slice(0, 300), fields: {} }
  const o = arg as { clientName?: unknown, commandName?: unknown, error?: { name?: unknown, code?: unknown, $metadata?: { httpStatusCode?: unknown, requestId?: unknown } }, metadata?: { httpStatusCode?: unknown, requestId?: unknown } }
  const str = (v: unknown): string | undefined => typeof v === 'string' && v.length > 0 ? v.slice(0, 100) : undefined
  const fields: Record<string, string | number> = {}
  const client = str(o.clientName)
  const command = str(o.commandName)
  const errorName = str(o.error?.name) ?? str(o.error?.code)
  const status = o.metadata?.httpStatusCode ?? o.error?.$metadata?.httpStatusCode
  const requestId = str(o.metadata?.requestId) ?? str(o.error?.$metadata?.requestId)
  if (client !== undefined) fields.client = client
  if (command !== undefined) fields.command = command
  if (errorName !== undefined) fields.error = errorName
  if (typeof status === 'number') fields.httpStatusCode = status
  if (requestId !== undefined) fields.requestId = requestId
  const text = [client, command].filter((x) => x !== undefined).join(' ') || 'SDK call'
  return { text: `${text} failed${errorName !== undefined ? `: ${errorName}` : ''}${typeof status === 'number' ? ` (HTTP ${status})` : ''}`, fields }
}
