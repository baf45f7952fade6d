import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { ConfigError } from './config/errors.ts';
import { readEnv, type Env } from './config/env.ts';
import { loadPolicy, type LoadedPolicy } from './config/policy-file.ts';
import { IdentityCenter } from './aws/identity-center.ts';
import { chainAnchors } from './audit/anchors.ts';
import { AuditPublisher } from './audit/publisher.ts';
import { quorumProblems, type Policy } from './domain/policy.ts';
import { createLogger } from './log.ts';
import { DEFAULT_TIMING, type Directory, type ServiceContext, type Timing } from './services/context.ts';
import { createSlackRuntime } from './slack/app.ts';
import { SlackAuditAdapter, SlackDirectory, webClient } from './slack/web.ts';
import { AssignmentStore } from './store/assignments.ts';
import { openDatabase, type Database } from './store/open.ts';
import { OutboxStore } from './store/outbox.ts';
import { RequestStore } from './store/requests.ts';
import { CreationSlots } from './store/slots.ts';
import { DriftStore } from './store/drift.ts';
import { FreezeStore } from './store/freeze.ts';
import { DriftWatcher } from './workers/drift.ts';
import { Sweeper } from './workers/sweeper.ts';

export interface RunningBot {
  ctx: ServiceContext;
  db: Database;
  publisher: AuditPublisher;
  sweeper: Sweeper;
  drift: DriftWatcher;
  port(): number;
  /** Graceful: stop taking work, finish or hand back what is in flight, close. */
  stop(): Promise<void>;
}

export interface BotOptions {
  logger?: Logger;
  timing?: Partial<Timing>;
}

/** The AWS region the SDK would use (Identity Center, DynamoDB and the checkpoint bucket share it). */
export function region(source: NodeJS.ProcessEnv): string {
  return source.AWS_REGION ?? source.AWS_DEFAULT_REGION ?? 'us-east-1';
}

/** How often approver groups are re-read and the quorum rule re-checked. */
const QUORUM_RECHECK_MS = 10 * 60_000;

export interface ContextParts {
  env: Env;
  source: NodeJS.ProcessEnv;
  policy: Policy;
  db: Database;
  log: Logger;
  directory: Directory;
  timing?: Partial<Timing> | undefined;
  eventsQueued: () => void;
  workQueued: (id: string) => void;
}

/** The services' view of the world: stores, Identity Center, Slack's directory. The bot and the CLI share it. */
export function buildContext(p: ContextParts): { ctx: ServiceContext; ic: IdentityCenter } {
  const ic = new IdentityCenter({
    region: region(p.source),
    identityStoreId: p.policy.identityCenter.identityStoreId,
    assumeRoleArn: p.env.assumeRoleArn,
    callsPerSecond: p.env.icCallsPerSecond,
  });
  const ctx: ServiceContext = {
    policy: p.policy,
    requests: new RequestStore(p.db),
    assignments: new AssignmentStore(p.db),
    outbox: new OutboxStore(p.db),
    slots: new CreationSlots(p.db, p.env.maxOutstandingCreations),
    drift: new DriftStore(p.db),
    freeze: new FreezeStore(p.db),
    ic,
    directory: p.directory,
    now: () => new Date().toISOString(),
    log: p.log,
    owner: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`,
    timing: { ...DEFAULT_TIMING, ...p.timing },
    eventsQueued: p.eventsQueued,
    workQueued: p.workQueued,
  };
  return { ctx, ic };
}

/** Builds every adapter from the environment and starts Slack, the sweeper and the audit publisher. */
export async function startBot(source: NodeJS.ProcessEnv, opts: BotOptions = {}): Promise<RunningBot> {
  const env: Env = readEnv(source);
  const log = opts.logger ?? createLogger(env.logLevel);
  const loaded: LoadedPolicy = loadPolicy(env.policyPath);
  const policy = loaded.policy;

  const web = webClient(env.slack.botToken, env.slack.apiUrl, log, { retries: 2, rejectRateLimited: true });
  const directory = new SlackDirectory(web, policy, log);
  let groups: Map<string, string[]>;
  try {
    groups = await directory.policyGroups();
  } catch (err) {
    const code = (err as { data?: { error?: string } }).data?.error ?? (err as Error).message;
    throw new ConfigError([
      code === 'invalid_auth' || code === 'not_authed' || code === 'token_revoked'
        ? `SLACK_BOT_TOKEN was rejected by Slack (${code}); copy the bot token from "OAuth & Permissions"`
        : `could not read the policy's Slack user groups (${code}); the bot needs the usergroups:read scope`,
    ]);
  }
  const problems = quorumProblems(policy, groups);
  if (problems.length > 0) {
    throw new ConfigError(
      problems.map((p) => `${loaded.path}: ${p.message}`),
      'the policy would let a single approver block requests (no single person may be required)',
    );
  }

  const db = await openDatabase(env, log);
  const auditClient = webClient(env.slack.botToken, env.slack.apiUrl, log, { retries: 0, rejectRateLimited: true });
  // The services call back into the publisher and sweeper, which need the services' context first.
  const late: { publisher?: AuditPublisher; sweeper?: Sweeper } = {};
  const { ctx, ic } = buildContext({
    env,
    source,
    policy,
    db,
    log,
    directory,
    timing: opts.timing,
    eventsQueued: () => late.publisher?.kick(),
    workQueued: (id) => late.sweeper?.queue(id),
  });
  const anchors = chainAnchors(env, db, region(source));
  if (!anchors.chainKey) log.warn({ event: 'audit.unkeyed' }, 'BREAKGLASS_AUDIT_KEY is not set: the audit chain is hashed, not signed, so anyone who can write the table could recompute it');
  const publisher = (late.publisher = new AuditPublisher({
    owner: ctx.owner,
    outbox: ctx.outbox,
    slack: new SlackAuditAdapter(auditClient),
    policy,
    log,
    chainKey: anchors.chainKey,
    checkpoints: anchors.checkpoints,
  }));
  const sweeper = (late.sweeper = new Sweeper(ctx, env.sweepSeconds * 1000, log));
  const outbox = ctx.outbox;

  const drift = new DriftWatcher(ctx, env.driftSeconds * 1000, log);

  const slack = createSlackRuntime(env, ctx, log, () => {
    const sinceSweep = Date.now() - sweeper.lastSweepAt;
    const ok = sweeper.lastSweepAt > 0 && sinceSweep < Math.max(env.sweepSeconds * 5000, 30_000);
    return { ok, detail: { mode: env.slack.socketMode ? 'socket' : 'http', lastSweepMsAgo: sinceSweep } };
  });

  await outbox.appendSystem(
    [
      {
        type: 'config.loaded',
        requestId: null,
        actor: null,
        details: { policyPath: loaded.path, policySha256: loaded.digest, profiles: policy.profiles.map((p) => p.id), store: env.table ?? 'embedded' },
      },
    ],
    ctx.now(),
  );
  await slack.start();
  sweeper.start();
  publisher.start(1000);
  drift.start();

  const recheck = setInterval(() => {
    void directory
      .policyGroups()
      .then(async (g) => {
        const now = quorumProblems(policy, g);
        if (now.length > 0) {
          log.error({ event: 'quorum.unsafe', problems: now.map((p) => p.message) }, 'approver pool no longer meets the policy');
          await outbox.appendSystem([{ type: 'quorum.unsafe', requestId: null, actor: null, details: { problems: now.map((p) => p.message) } }], ctx.now());
          publisher.kick();
        }
      })
      .catch((err: unknown) => log.warn({ err, event: 'quorum.recheck_failed' }, 'could not re-read approver groups'));
  }, QUORUM_RECHECK_MS);
  recheck.unref();

  log.info({ event: 'bot.started', mode: env.slack.socketMode ? 'socket' : 'http', port: slack.port(), store: env.table ?? 'embedded' }, 'breakglass is running');

  return {
    ctx,
    db,
    publisher,
    sweeper,
    drift,
    port: () => slack.port(),
    async stop() {
      clearInterval(recheck);
      await slack.stop();
      await drift.stop();
      await sweeper.stop();
      await publisher.stop();
      anchors.close();
      ic.destroy();
      await db.close();
    },
  };
}

async function run(): Promise<void> {
  let bot: RunningBot;
  try {
    bot = await startBot(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    bot.ctx.log.info({ event: 'bot.stopping', signal }, 'shutting down');
    const force = setTimeout(() => process.exit(1), 25_000);
    force.unref();
    void bot.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await run();
}
