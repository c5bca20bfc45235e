// Preloaded into every test process: run .ts files through test/helpers/ts-hooks.mjs.
import { register } from 'node:module'

register('./ts-hooks.mjs', import.meta.url)
