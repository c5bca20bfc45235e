import { CloudSecretsError } from '../../errors.js'
import type { CreateProvider } from '../types.js'

// Placeholder until the gcp provider lands: fails loudly instead of pretending.
export const createProvider: CreateProvider = async () => {
  throw new CloudSecretsError('CONFIG', 'provider "gcp" is not available in this build', { provider: 'gcp', fix: 'use provider local until the gcp provider ships' })
}
