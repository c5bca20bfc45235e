import cloudSecrets from './plugin.js'

export default cloudSecrets
export { cloudSecrets }
export { CloudSecretsError, ERROR_CATALOG, isCloudSecretsError } from './errors.js'
export type { ConfigProblem, CredentialAttempt, ErrorCode, ErrorKind } from './errors.js'
export type { SecretReference } from './reference.js'
export type { CloudContext, CloudProviders, CloudSecrets, CloudSecretsOptions, CustomCheck, Identity, ProviderName, ProviderSetting, SecretsRecord } from './types.js'
export type { LocalClients } from './providers/local/index.js'
