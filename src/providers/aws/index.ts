import { CloudSecretsError } from '../../errors.js'
import type { CreateProvider } from '../types.js'

// Placeholder until the aws provider lands: fails loudly instead of pretending.
export const createProvider: CreateProvider = async () => {
  throw new CloudSecretsError('CONFIG', 'provider "aws" is not available in this build', { provider: 'aws', fix: 'use provider local until the aws provider ships' })
}
