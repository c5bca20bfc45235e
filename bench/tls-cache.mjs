// The loopback guard makes the production hostnames trust the fakes' test CA by building, for
// every TLS connection, a secure context holding all of Node's root certificates plus that CA:
// about 25 ms of CPU per connection here, which Node never spends in production (its default root
// store is built once). Imported after the guard, this keeps one such context per CA file and set
// of context options, so the benchmarks time the plugin and the SDKs, not the test harness.
// The child processes the bench starts (runJson in lib.ts) get the CA through NODE_EXTRA_CA_CERTS
// instead, so they build no such context at all: their TLS costs what it costs in production.
import tls from 'node:tls'

const create = tls.createSecureContext
const cache = new Map()
const OWN = ['ca', 'cert', 'key', 'pfx', 'crl', 'passphrase', 'privateKeyEngine', 'privateKeyIdentifier', 'clientCertEngine', 'dhparam', 'ticketKeys']
const SHAPE = ['ciphers', 'ecdhCurve', 'honorCipherOrder', 'minVersion', 'maxVersion', 'secureProtocol', 'secureOptions', 'sigalgs', 'sessionIdContext', 'sessionTimeout']

tls.createSecureContext = function cachedSecureContext (options = {}) {
  const caFile = process.env.FCS_TEST_CA_FILE
  if (!caFile || OWN.some((k) => options[k] !== undefined && options[k] !== null)) return create.call(this, options)
  const key = JSON.stringify([caFile, ...SHAPE.map((k) => options[k] ?? null)])
  let context = cache.get(key)
  if (context === undefined) {
    context = create.call(this, options)
    cache.set(key, context)
  }
  return context
}
