import { test } from 'tap'
import { SignatureV4 } from '@smithy/signature-v4'
import { signV4 } from '../../src/providers/aws/sigv4.js'
import { Sha256 } from '../fakes/aws/sigv4.js'

// The plugin's own SigV4 against the SDK's signer: the same request, credentials and time give
// the same headers and the same Authorization, for Secrets Manager's JSON calls (with the
// payload hash header the SDK's clients add) and STS's Query POST, with and without a session token.

const date = new Date('2026-12-04T21:33:07.123Z')
const cases: Array<{ service: string, region: string, url: string, headers: Record<string, string>, body: string, sha: boolean, token: string | undefined }> = [
  { service: 'secretsmanager', region: 'eu-west-1', url: 'https://secretsmanager.eu-west-1.amazonaws.com/', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.BatchGetSecretValue', 'user-agent': 'not signed' }, body: JSON.stringify({ SecretIdList: ['a/b', 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:c-AbCdEf'] }), sha: true, token: 'IQoJb3JpZ2luX2VjE//session+token=' },
  { service: 'sts', region: 'us-east-1', url: 'https://sts.us-east-1.amazonaws.com/', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'Action=GetCallerIdentity&Version=2011-06-15', sha: false, token: undefined },
  { service: 'secretsmanager', region: 'cn-north-1', url: 'https://secretsmanager.cn-north-1.amazonaws.com.cn/?b=2&a=1%20x', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.GetSecretValue', 'x-extra': '  spaced   value ' }, body: '{"SecretId":"db"}', sha: true, token: undefined }
]

for (const c of cases) {
  test(`${c.service} ${c.region}: the same signature as @smithy/signature-v4`, async (t) => {
    const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: c.token }
    const url = new URL(c.url)
    const ours = signV4({ method: 'POST', url, headers: c.headers, body: c.body, region: c.region, service: c.service, credentials, date, contentSha256: c.sha })
    const query: Record<string, string> = {}
    for (const [k, v] of url.searchParams) query[k] = v
    const sdk = new SignatureV4({ credentials, region: c.region, service: c.service, sha256: Sha256 as never, applyChecksum: c.sha })
    const signed = await sdk.sign({ method: 'POST', protocol: 'https:', hostname: url.hostname, path: url.pathname, query, headers: { ...c.headers, host: url.host }, body: c.body } as never, { signingDate: date }) as unknown as { headers: Record<string, string> }
    const lower = (h: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]))
    t.equal(ours.authorization, lower(signed.headers).authorization)
    t.same(lower(ours), lower(signed.headers), 'every header alike')
  })
}
