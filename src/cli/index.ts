import { parseArgs } from 'node:util';
import { ConfigError } from '../config/errors.ts';
import { readEnv } from '../config/env.ts';
import { createLogger, logLevel } from '../log.ts';
import { archiveAnchor, exportAudit, fileRecords, parseAnchor, parseInstant, storeRecords, verifyReport, type Anchor } from './audit.ts';
import { ChainKey, type ChainRecord, type Checkpoint } from '../audit/chain.ts';
import { CheckpointStore } from '../store/checkpoints.ts';
import { awsRegion } from '../bootstrap.ts';
import { runDoctor } from './doctor.ts';
import { revokeAll, unfreeze } from './revoke-all.ts';
import { openStoreForCli } from './store.ts';
import { loadPolicy } from '../config/policy-file.ts';
import { reviewReport, reviewStart } from './review.ts';

const USAGE = `usage: breakglass <command>

  audit export [--since ISO] [--until ISO] [--format jsonl|csv]
                                 write the audit chain to stdout
  audit verify [--file F] [--anchor SEQ:HASH]
                                 re-compute the chain (from the store, or from an export file), check the
                                 audit key's signatures (BREAKGLASS_AUDIT_KEY), and hold it against the newest
                                 checkpoints (table, S3 bucket, --anchor); exit 1 naming what does not verify
  doctor                         check config, Slack, Identity Center and the store; ✓/✗ with a fix for each ✗
  revoke-all --reason "…" [--wait S]
                                 the kill switch: freeze breakglass, cancel undecided requests, revoke every
                                 grant, and exit 0 only when Identity Center holds nothing breakglass granted
                                 (waits up to S seconds, default 120; works with Slack down, bot running or not)
  unfreeze --reason "…"          lift revoke-all's freeze
  review start                   gather and store an access review now (the bot posts it to the audit
                                 channel); prints its id. Needs Slack and Identity Center
  review report [--period P] [--format md|csv|json]
                                 an access review for auditors (default: the newest, md); P is a period
                                 (2026-12, 2026-Q4) or a review id; csv has every finding on its own line
  sandbox [--policy FILE] [--port N]
                                 the bot against a built-in Slack and Identity Center, with a Slack-like page on
                                 127.0.0.1 (default port 3000); --policy tries your own policy file in it
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
    if (command === 'sandbox') {
      // The image sets NODE_ENV=production: a deployed bot's environment never runs the stand-ins.
      if (env.NODE_ENV === 'production') throw new UsageError('the sandbox never runs with NODE_ENV=production (the image sets it); run it from a checkout: npm ci && npm start');
      const args = [sub, ...rest].filter((a): a is string => a !== undefined);
      const { values } = parseArgs({ args, options: { policy: { type: 'string' }, port: { type: 'string' } }, strict: true });
      const port = values.port === undefined ? 3000 : Number(values.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a TCP port number (got "${values.port}")`);
      const { startSandbox, banner } = await import('../sandbox/run.ts');
      const sandbox = await startSandbox({ port, ...(values.policy ? { policyPath: values.policy } : {}), logLevel: logLevel(env, 'error') });
      out.write(`${banner(sandbox.url)}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await sandbox.stop();
      return 0;
    }
    const log = createLogger(logLevel(env, 'warn'), process.stderr);
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
      const { values } = parseArgs({ args: rest, options: { file: { type: 'string' }, anchor: { type: 'string', multiple: true } }, strict: true });
      let given: Checkpoint[];
      try {
        given = (values.anchor ?? []).map(parseAnchor);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const e = readEnv(env, { requireSlack: false });
      const key = e.auditKey ? new ChainKey(e.auditKey) : null;
      const anchors: Anchor[] = given.map((checkpoint) => ({ source: `--anchor ${checkpoint.seq}`, checkpoint }));
      let records: Array<{ record: ChainRecord; line?: number }> = [];
      let source = '';
      if (values.file) {
        const read = await fileRecords(values.file);
        if ('badLine' in read) {
          say(`audit chain does NOT verify: line ${read.badLine} is not a valid export line`);
          return 1;
        }
        records = read.records;
        source = values.file;
      }
      // The table's checkpoints (and the records, without --file); an export is checked against the store when it is reachable.
      try {
        const { db, via } = await openStoreForCli(e, log);
        try {
          if (!values.file) {
            records = await storeRecords(db);
            source = via;
          }
          const newest = await new CheckpointStore(db).newest();
          if (newest) anchors.push({ source: `the newest checkpoint in ${via}`, checkpoint: newest });
        } finally {
          await db.close();
        }
      } catch (err) {
        if (!values.file) throw err;
        anchors.push({ source: 'the store', unreadable: `its checkpoints could not be read (${(err as Error).message})` });
      }
      if (e.checkpointBucket) anchors.push(await archiveAnchor(e.checkpointBucket, awsRegion(env)));
      const report = verifyReport(records, source, key, anchors);
      for (const line of report.lines) say(line);
      return report.ok ? 0 : 1;
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
    if (command === 'review' && (sub === 'start' || sub === 'report')) {
      const { values } = parseArgs({ args: rest, options: sub === 'report' ? { period: { type: 'string' }, format: { type: 'string', default: 'md' } } : {}, strict: true });
      const v = values as { period?: string; format?: string };
      const format = v.format ?? 'md';
      if (format !== 'md' && format !== 'csv' && format !== 'json') throw new UsageError(`--format must be md, csv or json (got "${format}")`);
      const e = readEnv(env, { requireSlack: sub === 'start' });
      const c = { env: e, source: env, loaded: loadPolicy(e.policyPath), log, out, say };
      return sub === 'start' ? await reviewStart(c) : await reviewReport(c, v.period ?? null, format);
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
