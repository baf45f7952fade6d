#!/usr/bin/env node
// The operator CLI: runs the TypeScript sources through tsx, as `npm start` does.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli/index.ts');
process.exitCode = await runCli(process.argv.slice(2), process.env, process.stdout, process.stderr);
