import { isDeadlineError } from '../../../errors.js'
import type { Logger } from '../../../types.js'
import type { StepContext } from '../../types.js'
import { sanitizeCause } from '../errors.js'
import type { AuthClient } from '../gax.js'

/** bound on the best-effort tokeninfo lookup of a gcloud user's email */
const TOKENINFO_MS = 1500

/** The email of a gcloud user login, from tokeninfo; best effort and briefly bounded (used for the IAM member in fixes). */
export async function userEmail (client: AuthClient, ctx: StepContext, log: Logger): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined
  try {
    const lookup = ctx.deadline.run('identity: tokeninfo at oauth2.googleapis.com (gcloud user email)', async () => {
      const { token } = await client.getAccessToken()
      const info = await (client as unknown as { getTokenInfo: (t: string) => Promise<{ email?: string }> }).getTokenInfo(token ?? '')
      return info.email
    })
    const bound = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), Math.min(TOKENINFO_MS, ctx.deadline.remaining())) })
    return await Promise.race([lookup, bound])
  } catch (err) {
    if (isDeadlineError(err)) throw err
    log.debug({ err: { message: sanitizeCause(err).message } }, 'the gcloud user email is unknown (tokeninfo failed)')
    return undefined
  } finally {
    clearTimeout(timer)
  }
}
