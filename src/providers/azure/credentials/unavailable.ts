/**
 * Thrown by the plugin's own credentials (managed identity over HTTP, az, azd) when their source
 * cannot be used here: not configured, not installed, not logged in, no IMDS. Its `name` is the
 * one @azure/identity gives the same verdict (CredentialUnavailableError), so the chain falls
 * through and errors.ts classifies both alike.
 */
export class SourceUnavailableError extends Error {
  /** a CLI that is installed but not logged in */
  readonly notLoggedIn: boolean
  /** a CLI that is not on PATH */
  readonly notInstalled: boolean
  constructor (message: string, flags: { notLoggedIn?: boolean, notInstalled?: boolean } = {}) {
    super(message)
    this.name = 'CredentialUnavailableError'
    this.notLoggedIn = flags.notLoggedIn ?? false
    this.notInstalled = flags.notInstalled ?? false
  }
}
