// moved to src/shared/sdk.ts; kept so existing imports keep working
export { importSdk, importFromSdk } from './shared/sdk.js'
