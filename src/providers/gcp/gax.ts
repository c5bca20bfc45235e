import type * as Gax from 'google-gax'

/**
 * The google-gax (and its google-auth-library) types the provider names; type-only, no SDK is
 * loaded here. The provider loads google-auth-library alone (index.ts), so this is its part of gax.
 */
export type GaxModule = Pick<typeof Gax, 'GoogleAuth' | 'googleAuthLibrary'>
export type AuthClient = Gax.googleAuthLibrary.AuthClient
export type Gaxios = Gax.googleAuthLibrary.gaxios.Gaxios
export type GaxiosOptions = Gax.googleAuthLibrary.gaxios.GaxiosOptions
export type GaxiosPromise<T> = Gax.googleAuthLibrary.gaxios.GaxiosPromise<T>
export type GoogleAuth = Gax.GoogleAuth
