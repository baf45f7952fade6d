#!/usr/bin/env node
// The operator CLI. It runs the compiled code in dist/ (`npm run build`; the image has it). In a
// source checkout that was never built it falls back to the TypeScript sources through tsx, a
// development dependency, so `npx breakglass doctor` works right after `npm ci` too.
import { existsSync } from 'node:fs';
import { URL } from 'node:url';

const compiled = new URL('../dist/cli/index.js', import.meta.url);
let cli;
if (existsSync(compiled)) {
  cli = await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import('../src/cli/index.ts');
}
process.exitCode = await cli.runCli(process.argv.slice(2), process.env, process.stdout, process.stderr);
