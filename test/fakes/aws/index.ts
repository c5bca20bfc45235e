// Wire-level fakes of the AWS endpoints the aws provider talks to; tests and benchmarks reuse
// them (latency and fault options, request counters per kind).
export { FakeServer, type Faults, type FakeAnswer, type FakeRequest } from './server.js'
export { FakeAwsWorld, parseSigV4, type AllowList, type FakeKeys, type FakePrincipal, type FakeRole, type FakeSecret, type SigV4 } from './world.js'
export { FakeSecretsManager, smError } from './secrets-manager.js'
export { FakeSts, stsError } from './sts.js'
export { FakeContainerCredentials, FakeImds, FakeSsoPortal } from './credentials.js'
export { startAwsFakes, type AwsFakes } from './harness.js'
