import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { diagnose, policy } from './diagnose.js'
import { PROVIDER_NAMES } from '../providers/registry.js'
import type { CloudSecretsOptions, ProviderName } from '../types.js'
import { createQuietLogger } from './logger.js'
import { COLOUR, PLAIN, renderDoctor, renderPolicy } from './render.js'

/** Where the CLI reads and writes: the process's own streams and env, or a test's. */
export interface CliIo {
  stdout: Output
  stderr: Output
  env: Record<string, string | undefined>
  /** base for a relative --config path */
  cwd: string
}

export interface Output {
  isTTY?: boolean
  write: (text: string, callback: () => void) => unknown
}

/** Exit codes: 0 everything would load, 1 something would fail, 2 usage or configuration error. */
const EXIT_USAGE = 2

const HELP = `Usage: fastify-cloud-secrets <command> [options]

Runs the plugin's own startup steps from the shell, with the same env vars, and never prints a
secret value.

Commands:
  doctor    which identity is this, and can it read every configured secret?
            Shows the platform, each credential source tried, the winning source, principal
            and token expiry, then per secret: ok/failed, store, version, byte length, latency,
            and for each failure its error code and the exact fix.
  policy    the least-privilege grant for the configured secrets (IAM policy JSON, gcloud or
            az commands, Bicep) for the current principal, or the one given with --principal.

Options:
  --config <module>     ES module whose default export is the plugin options (an object, or a
                        function returning one); env vars fill in what it leaves out
  --principal <id>      (policy) grant to this principal instead of looking the identity up;
                        repeat as --principal aws=<arn> --principal gcp=<email> for several clouds
  --fleet <N>           (doctor) price the refresh interval for N instances: requests per
                        second and per month per store, and the share of its documented quota
  --json                one machine-readable JSON document on stdout
  --no-color            no colour (also: NO_COLOR=1; colour is only used on a terminal)
  -h, --help            this help
  -v, --version         the package version

Environment: CLOUD_SECRETS_PROVIDER, CLOUD_SECRETS, CLOUD_SECRETS_TIMEOUT_MS (default 10000),
CLOUD_SECRETS_LOCAL_FILE, CLOUD_SECRETS_CHECK_SCOPES, AWS_REGION, AZURE_KEYVAULT_URL,
GOOGLE_CLOUD_PROJECT, and each cloud SDK's own credential variables.

Exit status: 0 everything would load (the app would start), 1 something would fail,
2 usage error or invalid configuration (nothing was contacted).
`

class UsageError extends Error {}

function packageVersion (): string {
  // dist/cli/main.js and src/cli/main.ts both sit two levels below package.json
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

async function loadOptions (module: string | undefined, cwd: string): Promise<CloudSecretsOptions> {
  if (module === undefined) return {}
  let mod: { default?: unknown }
  try {
    mod = await import(pathToFileURL(resolve(cwd, module)).href) as { default?: unknown }
  } catch (err) {
    // the message only: a stack can quote the module's source, which may hold values
    throw new UsageError(`--config ${module}: cannot import it (${(err as Error)?.message ?? String(err)})`)
  }
  let options: unknown = mod.default
  if (typeof options === 'function') {
    try {
      options = await (options as () => unknown)()
    } catch (err) {
      throw new UsageError(`--config ${module}: its default export threw (${(err as Error)?.message ?? String(err)})`)
    }
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new UsageError(`--config ${module}: its default export must be the plugin options object (or a function returning it), got ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`)
  }
  return options as CloudSecretsOptions
}

function parsePrincipals (values: readonly string[]): Map<ProviderName | '*', string> {
  const principals = new Map<ProviderName | '*', string>()
  for (const value of values) {
    const eq = value.indexOf('=')
    const prefix = eq === -1 ? '' : value.slice(0, eq)
    const [key, id] = (PROVIDER_NAMES as readonly string[]).includes(prefix) ? [prefix as ProviderName, value.slice(eq + 1)] : ['*' as const, value]
    if (id.trim().length === 0) throw new UsageError('--principal needs an id, e.g. --principal arn:aws:iam::123456789012:role/app')
    if (principals.has(key)) throw new UsageError(`--principal is given twice for ${key === '*' ? 'every provider' : key}; use --principal <provider>=<id> for each cloud`)
    principals.set(key, id.trim())
  }
  return principals
}

/** A one-line progress indicator, rewritten in place (terminals only). */
function progressLine (stream: Output): { update: (step: string) => void, clear: () => void } {
  let width = 0
  const clear = (): void => {
    if (width > 0) stream.write(`\r${' '.repeat(width)}\r`, () => {})
    width = 0
  }
  return {
    update (step) {
      const text = `fastify-cloud-secrets: ${step}…`
      clear()
      stream.write(text, () => {})
      width = text.length
    },
    clear
  }
}

async function write (stream: Output, text: string): Promise<void> {
  await new Promise<void>((resolve) => { stream.write(text, () => resolve()) })
}

/** Runs one command; resolves with the exit status (0 ok, 1 something would fail, 2 usage/config). */
export async function main (argv: string[], io: CliIo): Promise<number> {
  try {
    return await runCommand(argv, io)
  } catch (err) {
    const usage = err instanceof UsageError || (err as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS') === true
    await write(io.stderr, usage
      ? `fastify-cloud-secrets: ${(err as Error).message}\nRun fastify-cloud-secrets --help for usage.\n`
      : `fastify-cloud-secrets: unexpected failure: ${(err as Error)?.message ?? String(err)}\n`)
    return usage ? EXIT_USAGE : 1
  }
}

async function runCommand (argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      principal: { type: 'string', multiple: true },
      fleet: { type: 'string' },
      json: { type: 'boolean' },
      'no-color': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' }
    }
  })
  if (values.help === true) { await write(io.stdout, HELP); return 0 }
  if (values.version === true) { await write(io.stdout, `${packageVersion()}\n`); return 0 }
  const [command, ...extra] = positionals
  if (command === undefined) throw new UsageError('a command is needed: doctor or policy')
  if (command !== 'doctor' && command !== 'policy') throw new UsageError(`unknown command "${command}": use doctor or policy`)
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`)
  if (command === 'doctor' && values.principal !== undefined) throw new UsageError('--principal belongs to the policy command')
  const principals = parsePrincipals(values.principal ?? [])
  if (command === 'policy' && values.fleet !== undefined) throw new UsageError('--fleet belongs to the doctor command')
  const fleet = values.fleet === undefined ? 1 : Number(values.fleet)
  if (!Number.isSafeInteger(fleet) || fleet < 1) throw new UsageError('--fleet needs a whole number of instances, e.g. --fleet 1000')

  const json = values.json === true
  const tty = io.stdout.isTTY === true
  const colour = tty && !json && values['no-color'] !== true && (io.env.NO_COLOR ?? '') === ''
  const progress = tty && !json ? progressLine(io.stdout) : undefined
  // the plugin reads process.env unless options.env is given; the CLI reads io.env the same way
  const options = { env: io.env, ...await loadOptions(values.config, io.cwd) }
  const { log, warnings } = createQuietLogger()
  const context = { log, warnings, onProgress: progress?.update }

  const report = command === 'doctor' ? await diagnose(options, { ...context, fleet }) : await policy(options, { ...context, principals })
  progress?.clear()
  if (json) {
    await write(io.stdout, JSON.stringify({ tool: 'fastify-cloud-secrets', version: packageVersion(), ...report }, null, 2) + '\n')
  } else {
    const style = colour ? COLOUR : PLAIN
    await write(io.stdout, report.command === 'doctor' ? renderDoctor(report, style) : renderPolicy(report, style))
  }
  return report.exitCode
}
