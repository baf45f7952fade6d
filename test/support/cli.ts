import { PassThrough } from 'node:stream';
import { runCli } from '../../src/cli/index.ts';

export interface CliRun {
  code: number;
  out: string;
  err: string;
}

/** Runs a CLI entry point in-process with captured stdout and stderr. */
export async function captured(run: (out: NodeJS.WritableStream, err: NodeJS.WritableStream) => Promise<number>): Promise<CliRun> {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (d: Buffer) => (o += d.toString()));
  err.on('data', (d: Buffer) => (e += d.toString()));
  const code = await run(out, err);
  return { code, out: o, err: e };
}

/** `breakglass <args>` with the bot's environment. */
export function cli(env: Record<string, string>, args: string[]): Promise<CliRun> {
  return captured((out, err) => runCli(args, { ...process.env, ...env }, out, err));
}
