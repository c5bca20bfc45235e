#!/usr/bin/env node
import { main } from './cli/main.js'

// the bin: everything is in cli/main.ts. Exit explicitly, so that a provider's request still in
// flight after the deadline cannot keep the shell waiting once the report is out.
process.exit(await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() }))
