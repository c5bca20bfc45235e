import { CloudSecretsError } from '../../errors.js'
import type { CreateProvider } from '../types.js'

// Placeholder until the azure provider lands: fails loudly instead of pretending.
export const createProvider: CreateProvider = async () => {
  throw new CloudSecretsError('CONFIG', 'provider "azure" is not available in this build', { provider: 'azure', fix: 'use provider local until the azure provider ships' })
}
