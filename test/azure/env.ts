import type { Test } from 'tap'

/** Env vars that steer the Azure SDK and the plugin; each test sets its own and restores them. */
const AZURE_VARS = ['AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_TENANT_ID', 'AZURE_CLIENT_CERTIFICATE_PATH', 'AZURE_CLIENT_CERTIFICATE_PASSWORD', 'AZURE_FEDERATED_TOKEN_FILE',
  'AZURE_AUTHORITY_HOST', 'AZURE_KEYVAULT_URL', 'IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'MSI_ENDPOINT', 'MSI_SECRET', 'CONTAINER_APP_NAME', 'WEBSITE_SITE_NAME',
  'FUNCTIONS_WORKER_RUNTIME', 'FUNCTIONS_EXTENSION_VERSION', 'KUBERNETES_SERVICE_HOST', 'AZURE_POD_IDENTITY_AUTHORITY_HOST', 'AZURE_TOKEN_CREDENTIALS',
  'CLOUD_SECRETS', 'CLOUD_SECRETS_PROVIDER', 'CLOUD_SECRETS_TIMEOUT_MS', 'CLOUD_SECRETS_CHECK_SCOPES', 'FCS_TEST_REDIRECT', 'FCS_TEST_CA_FILE', 'PATH']

/** Sets exactly `vars` (clearing the other Azure vars) for one test; restored on teardown. */
export function useEnv (t: Test, vars: Record<string, string | undefined>): void {
  const saved = new Map(AZURE_VARS.map((n) => [n, process.env[n]]))
  for (const n of AZURE_VARS) if (n !== 'PATH') delete process.env[n]
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
  t.teardown(() => {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k]
      else process.env[k] = v
    }
  })
}

/** PATH with `dir` (a fake az/azd) before the "not logged in" stand-ins */
export function pathWith (dir: string): string {
  return `${dir}:${process.env.PATH ?? ''}`
}
