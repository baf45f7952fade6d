import { parseArgs } from 'node:util';
import { ConfigError } from '../config/errors.ts';
import { readEnv } from '../config/env.ts';
import { createLogger } from '../log.ts';
import { exportAudit, parseInstant, verifyFile, verifyStore } from './audit.ts';
import { runDoctor } from './doctor.ts';
import { revokeAll, unfreeze } from './revoke-all.ts';
import { openStoreForCli } from './store.ts';
import { loadPolicy } from '../config/policy-file.ts';

const USAGE = `usage: breakglass <command>

  audit export [--since ISO] [--until ISO] [--format jsonl|csv]
                                 write the audit chain to stdout
  audit verify [--file F]        re-compute the chain (from the store, or from an export file);
                                 exit 1 naming the first record that does not verify
  doctor                         check config, Slack, Identity Center and the store; ✓/✗ with a fix for each ✗
  revoke-all --reason "…" [--wait S]
                                 the kill switch: freeze breakglass, cancel undecided requests, revoke every
                                 grant, and exit 0 only when Identity Center holds nothing breakglass granted
                                 (waits up to S seconds, default 120; works with Slack down, bot running or not)
  unfreeze --reason "…"          lift revoke-all's freeze
  help                           this text

The CLI reads the same environment as the bot (BREAKGLASS_TABLE or BREAKGLASS_DATA_DIR, AWS settings).
Data goes to stdout; logs and progress to stderr.`;

class UsageError extends Error {}

/** Runs one command; returns the exit status. stdout carries data only. */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const say = (text: string) => err.write(`${text}\n`);
  try {
    const [command, sub, ...rest] = argv;
    if (!command || command === 'help' || command === '--help' || command === '-h') {
      (command ? out : err).write(`${USAGE}\n`);
      return command ? 0 : 2;
    }
    if (command === 'doctor') return await runDoctor(env, out, err);
    const log = createLogger(env.LOG_LEVEL ?? 'warn', process.stderr);
    if (command === 'audit' && sub === 'export') {
      const { values } = parseArgs({ args: rest, options: { since: { type: 'string' }, until: { type: 'string' }, format: { type: 'string', default: 'jsonl' } }, strict: true });
      if (values.format !== 'jsonl' && values.format !== 'csv') throw new UsageError(`--format must be jsonl or csv (got "${values.format}")`);
      let since: string | null;
      let until: string | null;
      try {
        since = parseInstant('--since', values.since);
        until = parseInstant('--until', values.until);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const { db, via } = await openStoreForCli(readEnv(env, { requireSlack: false }), log);
      try {
        const n = await exportAudit(db, out, { since, until, format: values.format });
        say(`exported ${n} audit records from ${via}`);
      } finally {
        await db.close();
      }
      return 0;
    }
    if (command === 'audit' && sub === 'verify') {
      const { values } = parseArgs({ args: rest, options: { file: { type: 'string' } }, strict: true });
      let result;
      let source: string;
      if (values.file) {
        result = await verifyFile(values.file);
        source = values.file;
      } else {
        const { db, via } = await openStoreForCli(readEnv(env, { requireSlack: false }), log);
        try {
          result = await verifyStore(db);
        } finally {
          await db.close();
        }
        source = via;
      }
      if (result.ok) {
        say(`audit chain verified: ${result.count} records from ${source}, head ${result.head}`);
        return 0;
      }
      const where = [result.seq !== null ? `record seq ${result.seq}` : null, result.line !== null ? `line ${result.line}` : null].filter(Boolean).join(', ');
      say(`audit chain does NOT verify: ${where || 'first record'} ${result.problem} (${result.count} records verified before it)`);
      return 1;
    }
    if (command === 'revoke-all' || command === 'unfreeze') {
      const args = [sub, ...rest].filter((a): a is string => a !== undefined);
      const { values } = parseArgs({ args, options: { reason: { type: 'string' }, ...(command === 'revoke-all' ? { wait: { type: 'string' as const } } : {}) }, strict: true });
      const reason = values.reason?.trim();
      if (!reason) throw new UsageError(`${command} needs --reason "why" (it goes into the audit record)`);
      const wait = (values as { wait?: string }).wait;
      const waitSeconds = wait === undefined ? 120 : Number(wait);
      if (!Number.isFinite(waitSeconds) || waitSeconds <= 0) throw new UsageError(`--wait must be a positive number of seconds (got "${wait}")`);
      const e = readEnv(env, { requireSlack: false });
      const c = { env: e, source: env, loaded: loadPolicy(e.policyPath), log, out, say };
      return command === 'revoke-all' ? await revokeAll(c, reason, waitSeconds * 1000) : await unfreeze(c, reason);
    }
    throw new UsageError(`unknown command "${argv.join(' ')}"`);
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      say(`${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    if (e instanceof ConfigError) {
      say(e.message);
      return 2;
    }
    say(`breakglass: ${(e as Error).message}`);
    return 1;
  }
}
