// Preloaded into every test process (and, through NODE_OPTIONS, every node child it spawns).
// 1. Refuses any TCP connection to a non-loopback address: an SDK that silently falls through to
//    169.254.169.254, login.microsoftonline.com, oauth2.googleapis.com or sts.amazonaws.com makes
//    the test process exit non-zero with the destination named on stderr.
// 2. Test-only production hostnames: FCS_TEST_REDIRECT="secretmanager.googleapis.com=127.0.0.1:4431,
//    *.vault.azure.net=127.0.0.1:4432" makes those names resolve to a private loopback alias and
//    every connection to it (any port) land on the given fake, so the SDKs run with their real
//    hostnames and no endpoint override. FCS_TEST_CA_FILE adds a test CA to the default trust.
//    Both are read at each connection, so a test may set them after its fake starts.
// 3. Sets hermetic defaults so no real credential, config file or cloud CLI login is ever read.
import dns from 'node:dns'
import { mkdtempSync, readFileSync } from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const here = fileURLToPath(new URL('.', import.meta.url))
const violations = []
globalThis.__loopbackViolations = violations

function isLoopback (address) {
  return address === '::1' || address === 'localhost' || /^127\./.test(address) || /^::ffff:127\./.test(address)
}

function refuse (socket, destination) {
  violations.push(destination)
  process.exitCode = 97
  process.stderr.write(`LOOPBACK GUARD: refused a connection to ${destination} (tests must only reach 127.0.0.1)\n`)
  const err = Object.assign(new Error(`connect ECONNREFUSED ${destination} (loopback guard)`), { code: 'ECONNREFUSED' })
  process.nextTick(() => socket.destroy(err))
  return socket
}

let redirectText
let redirects = []
function redirectTable () {
  const text = process.env.FCS_TEST_REDIRECT ?? ''
  if (text !== redirectText) {
    redirectText = text
    redirects = text.split(',').map((s) => s.trim()).filter(Boolean).map((entry, i) => {
      const [pattern, target] = entry.split('=')
      const [host, port] = target.split(':')
      return { pattern: pattern.toLowerCase(), alias: `127.77.0.${i + 1}`, host, port: Number(port) }
    })
  }
  return redirects
}
function redirectFor (hostname) {
  const name = String(hostname).toLowerCase().replace(/\.$/, '')
  return redirectTable().find((r) => r.pattern.startsWith('*.') ? name.endsWith(r.pattern.slice(1)) : name === r.pattern)
}

const lookup = dns.lookup
dns.lookup = function redirectedLookup (hostname, options, callback) {
  const r = redirectFor(hostname)
  if (r === undefined) return lookup.apply(this, arguments)
  if (typeof options === 'function') { callback = options; options = {} }
  const all = typeof options === 'object' && options !== null && options.all === true
  process.nextTick(() => all ? callback(null, [{ address: r.alias, family: 4 }]) : callback(null, r.alias, 4))
}
const lookupPromise = dns.promises.lookup
dns.promises.lookup = async function redirectedLookupPromise (hostname, options) {
  const r = redirectFor(hostname)
  if (r === undefined) return lookupPromise.call(this, hostname, options)
  return (typeof options === 'object' && options?.all === true) ? [{ address: r.alias, family: 4 }] : { address: r.alias, family: 4 }
}

let caText
let caFile
function testCa () {
  const file = process.env.FCS_TEST_CA_FILE
  if (!file) return undefined
  if (file !== caFile) { caFile = file; caText = readFileSync(file, 'utf8') }
  return caText
}
// A process started with NODE_EXTRA_CA_CERTS naming the test CA (the benchmarks' child boots) has
// it in Node's default store already, as production has its roots: no per-context CA list then
// (building one from all of Node's roots costs ~20 ms of CPU per process, which production never pays).
const extraCaAtStart = process.env.NODE_EXTRA_CA_CERTS
const createSecureContext = tls.createSecureContext
tls.createSecureContext = function withTestCa (options = {}) {
  const ca = testCa()
  if (ca !== undefined && caFile !== extraCaAtStart && (options.ca === undefined || options.ca === null)) {
    options = { ...options, ca: [...tls.rootCertificates, ca] }
    globalThis.__testCaContexts = (globalThis.__testCaContexts ?? 0) + 1
  }
  return createSecureContext.call(this, options)
}

const connect = net.Socket.prototype.connect
net.Socket.prototype.connect = function guardedConnect (...args) {
  let options = args[0]
  if (Array.isArray(options)) options = options[0]
  if (typeof options !== 'object' || options === null) {
    options = typeof options === 'number' || (typeof options === 'string' && /^\d+$/.test(options)) ? { port: options, host: args[1] } : { path: options }
  }
  if (options.path !== undefined && options.port === undefined) return connect.apply(this, args)
  let host = options.host ?? 'localhost'
  const byName = net.isIP(host) === 0 ? redirectFor(host) : redirectTable().find((r) => r.alias === host)
  if (byName !== undefined) {
    host = byName.host
    const moved = { ...options, host: byName.host, port: byName.port }
    delete moved.lookup
    if (Array.isArray(args[0])) args[0][0] = moved
    else args[0] = moved
    options = moved
  }
  if (net.isIP(host) !== 0) {
    if (!isLoopback(host)) return refuse(this, `${host}:${options.port}`)
    return connect.apply(this, args)
  }
  // a host name: check what it resolves to, through whatever lookup the caller chose
  const lookup = options.lookup ?? dns.lookup
  const checked = (hostname, opts, callback) => {
    if (typeof opts === 'function') { callback = opts; opts = {} }
    lookup(hostname, opts, (err, address, family) => {
      if (err) return callback(err)
      const list = Array.isArray(address) ? address.map((a) => a.address) : [address]
      const bad = list.find((a) => !isLoopback(a))
      if (bad !== undefined) {
        violations.push(`${hostname} (${bad})`)
        process.exitCode = 97
        process.stderr.write(`LOOPBACK GUARD: refused a connection to ${hostname} → ${bad}:${options.port}\n`)
        return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname} (loopback guard)`), { code: 'ENOTFOUND' }))
      }
      callback(null, address, family)
    })
  }
  if (Array.isArray(args[0])) args[0][0] = { ...options, lookup: checked }
  else args[0] = { ...options, lookup: checked }
  return connect.apply(this, args)
}

// hermetic defaults (a test can still override any of them for its own child processes)
const env = process.env
if (env.FCS_GUARD_ENV !== '1') {
  env.FCS_GUARD_ENV = '1'
  const empty = mkdtempSync(join(tmpdir(), 'fcs-hermetic-'))
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE', 'AWS_DEFAULT_PROFILE', 'AWS_ROLE_ARN', 'AWS_WEB_IDENTITY_TOKEN_FILE',
    'AWS_CONTAINER_CREDENTIALS_FULL_URI', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_AUTHORIZATION_TOKEN', 'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
    'AWS_LAMBDA_FUNCTION_NAME', 'ECS_CONTAINER_METADATA_URI', 'ECS_CONTAINER_METADATA_URI_V4', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_ENDPOINT_URL',
    'GOOGLE_APPLICATION_CREDENTIALS', 'GOOGLE_CLOUD_PROJECT', 'GCLOUD_PROJECT', 'GCP_PROJECT', 'K_SERVICE', 'CLOUD_RUN_JOB', 'FUNCTION_TARGET', 'GAE_SERVICE', 'GCE_METADATA_HOST', 'GCE_METADATA_IP',
    'AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_TENANT_ID', 'AZURE_CLIENT_CERTIFICATE_PATH', 'AZURE_FEDERATED_TOKEN_FILE', 'AZURE_AUTHORITY_HOST', 'AZURE_KEYVAULT_URL',
    'IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'MSI_ENDPOINT', 'MSI_SECRET', 'CONTAINER_APP_NAME', 'WEBSITE_SITE_NAME', 'AZURE_POD_IDENTITY_AUTHORITY_HOST',
    'CLOUD_SECRETS', 'CLOUD_SECRETS_PROVIDER', 'CLOUD_SECRETS_TIMEOUT_MS', 'CLOUD_SECRETS_LOCAL_FILE', 'CLOUD_SECRETS_CHECK_SCOPES', 'CLOUD_SECRETS_REFRESH_MS',
    'HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy',
    // grpc-js passes this file as an explicit CA list, which would bypass FCS_TEST_CA_FILE (read once, when grpc-js loads)
    'GRPC_DEFAULT_SSL_ROOTS_FILE_PATH']) {
    delete env[name]
  }
  env.AWS_EC2_METADATA_DISABLED = 'true'
  env.AWS_CONFIG_FILE = join(empty, 'aws-config')
  env.AWS_SHARED_CREDENTIALS_FILE = join(empty, 'aws-credentials')
  env.AWS_ENDPOINT_URL_STS = 'http://127.0.0.1:9'
  env.METADATA_SERVER_DETECTION = 'none'
  env.CLOUDSDK_CONFIG = join(empty, 'gcloud')
  env.AZURE_CONFIG_DIR = join(empty, 'azure')
  env.AZURE_LOG_LEVEL = ''
  env.HOME = empty
  // stand-ins for az / azd / gcloud / aws that are "not logged in"; a test puts its own fakes first
  env.PATH = `${join(here, 'no-cli')}:${env.PATH}`
  const self = pathToFileURL(fileURLToPath(import.meta.url)).href
  if (!(env.NODE_OPTIONS ?? '').includes(self)) env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --import=${self}`.trim()
}
