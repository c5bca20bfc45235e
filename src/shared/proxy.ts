/**
 * Whether the Azure SDK's HTTP stack would send a request to `host` through a proxy from the
 * environment: @azure/core-rest-pipeline's rules (HTTPS_PROXY, else ALL_PROXY, else HTTP_PROXY,
 * each upper case first; NO_PROXY entries are exact hosts, or `.suffix` for the domain and its
 * subdomains). It reads process.env, as the pipeline does.
 */
function envValue (env: NodeJS.ProcessEnv, name: string): string | undefined {
  const upper = env[name]
  if (upper !== undefined && upper !== '') return upper
  const lower = env[name.toLowerCase()]
  return lower !== undefined && lower !== '' ? lower : undefined
}

export function sdkProxyApplies (host: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const proxy = envValue(env, 'HTTPS_PROXY') ?? envValue(env, 'ALL_PROXY') ?? envValue(env, 'HTTP_PROXY')
  if (proxy === undefined) return false
  const h = host.toLowerCase()
  const bypass = (envValue(env, 'NO_PROXY') ?? '').split(',').map((p) => p.trim().toLowerCase()).filter((p) => p.length > 0)
  return !bypass.some((p) => p.startsWith('.') ? h.endsWith(p) || h === p.slice(1) : h === p)
}
