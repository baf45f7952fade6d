/**
 * The composition root: reads the configuration, builds the adapters (src/bootstrap.ts), and
 * starts Slack and the workers. Nothing else happens here.
 */
import { pathToFileURL } from 'node:url';
import type { Logger } from 'pino';
import { chainAnchors } from './audit/anchors.ts';
import { awsRegion, serviceContext, WorkSignals } from './bootstrap.ts';
import { systemClock } from './clock.ts';
import { ConfigError } from './config/errors.ts';
import { readEnv, wantsSandbox, type Env } from './config/env.ts';
import { loadPolicy } from './config/policy-file.ts';
import { quorumProblems } from './domain/policy.ts';
import { reviewProblem } from './domain/review.ts';
import { createLogger, logLevel } from './log.ts';
import type { ServiceContext, Timing } from './services/context.ts';
import type { Clock } from './services/ports.ts';
import { createSlackRuntime } from './slack/app.ts';
import { REJECTED_TOKEN, SlackAuditAdapter, SlackDirectory, SlackHomeAdapter, webClient } from './slack/web.ts';
import { HomeVisitorStore } from './store/home-visitors.ts';
import { openDatabase, type Database } from './store/open.ts';
import { DriftWatcher } from './workers/drift.ts';
import { ReplicaBudget } from './workers/replicas.ts';
import { HomeRefresher } from './workers/home-refresher.ts';
import { AuditPublisher } from './workers/publisher.ts';
import { QuorumWatcher } from './workers/quorum.ts';
import { Sweeper } from './workers/sweeper.ts';
import { ReviewWatcher } from './workers/review.ts';
import { ReplicaStore } from './store/replicas.ts';
import { ReviewStore } from './store/reviews.ts';
import type { ReviewDeps } from './services/review.ts';
import type { CodeCache } from './start.ts';

export interface RunningBot {
  ctx: ServiceContext;
  db: Database;
  publisher: AuditPublisher;
  sweeper: Sweeper;
  drift: DriftWatcher;
  homes: HomeRefresher;
  /** The access review's stores and its watcher. */
  review: ReviewDeps;
  reviews: ReviewWatcher;
  port(): number;
  /** Graceful: stop taking work, finish or hand back what is in flight, close. */
  stop(): Promise<void>;
}

export interface BotOptions {
  logger?: Logger;
  timing?: Partial<Timing>;
  /** The bot's clock (tests move it forward instead of waiting). */
  clock?: Clock;
  /** How src/start.ts loaded the bundle, for the `bot.started` line (a slow start that did not use the code cache says why). */
  codeCache?: CodeCache;
}

/** Builds every adapter from the environment and starts Slack and the workers. */
export async function startBot(source: NodeJS.ProcessEnv, opts: BotOptions = {}): Promise<RunningBot> {
  const env: Env = readEnv(source);
  const log = opts.logger ?? createLogger(env.logLevel);
  const loaded = loadPolicy(env.policyPath);
  const policy = loaded.policy;

  const clock = opts.clock ?? systemClock;
  const directory = new SlackDirectory(webClient(env.slack.botToken, env.slack.apiUrl, log, { retries: 2, rejectRateLimited: true }), policy, log, clock);
  let groups: Map<string, string[]>;
  try {
    groups = await directory.policyGroups();
  } catch (err) {
    const code = (err as { data?: { error?: string } }).data?.error ?? (err as Error).message;
    throw new ConfigError([
      REJECTED_TOKEN.has(code)
        ? `SLACK_BOT_TOKEN was rejected by Slack (${code}); copy the bot token from "OAuth & Permissions"`
        : `could not read the policy's Slack user groups (${code}); the bot needs the usergroups:read scope`,
    ]);
  }
  const reviewers = reviewProblem(policy, groups);
  if (reviewers) throw new ConfigError([`${loaded.path}: ${reviewers}`]);
  const problems = quorumProblems(policy, groups);
  if (problems.length > 0) {
    throw new ConfigError(
      problems.map((p) => `${loaded.path}: ${p.message}`),
      'the policy would let a single approver block requests (no single person may be required)',
    );
  }

  const db = await openDatabase(env, log);
  const signals = new WorkSignals();
  const services = serviceContext({ env, source, policy, db, log, directory, signals, clock, timing: opts.timing, deliversToSlack: true });
  const ctx = services.ctx;
  const anchors = await chainAnchors(env, db, awsRegion(source));
  if (!anchors.chainKey) log.warn({ event: 'audit.unkeyed' }, 'BREAKGLASS_AUDIT_KEY is not set: the audit chain is hashed, not signed, so anyone who can write the table could recompute it');

  // Publishing homes never retries on its own: the refresher paces it and waits out a 429 itself.
  const homes = new HomeRefresher({
    ctx,
    visitors: new HomeVisitorStore(db),
    slack: new SlackHomeAdapter(webClient(env.slack.botToken, env.slack.apiUrl, log, { retries: 0, rejectRateLimited: true })),
    log,
  });
  const publisher = new AuditPublisher({
    owner: ctx.owner,
    homes,
    outbox: ctx.outbox,
    slack: new SlackAuditAdapter(webClient(env.slack.botToken, env.slack.apiUrl, log, { retries: 0, rejectRateLimited: true })),
    policy,
    log,
    clock: ctx.clock,
    chainKey: anchors.chainKey,
    checkpoints: anchors.checkpoints,
  });
  const sweeper = new Sweeper(ctx, env.sweepSeconds * 1000, log);
  const drift = new DriftWatcher(ctx, env.driftSeconds * 1000, log);
  const review: ReviewDeps = { ctx, reviews: new ReviewStore(db), inventory: services.inventory };
  const reviews = new ReviewWatcher(review, log);
  const budget = new ReplicaBudget({ replicas: new ReplicaStore(db), owner: ctx.owner, clock: ctx.clock, log, share: (replicas) => services.shareBudget(replicas) });
  const quorum = new QuorumWatcher({ policy, groups: () => directory.policyGroups(), outbox: ctx.outbox, clock: ctx.clock, log, eventsQueued: () => publisher.kick() });
  signals.whenEvents(() => publisher.kick());
  signals.whenWork((id) => sweeper.queue(id));
  signals.whenDue((id, at) => sweeper.wake(id, at));

  const slack = createSlackRuntime(
    env,
    ctx,
    log,
    () => {
      const sinceSweep = ctx.clock.ms() - sweeper.lastSweepAt;
      const ok = sweeper.lastSweepAt > 0 && sinceSweep < Math.max(env.sweepSeconds * 5000, 30_000);
      return { ok, detail: { mode: env.slack.socketMode ? 'socket' : 'http', lastSweepMsAgo: sinceSweep } };
    },
    homes,
    review,
  );

  await ctx.outbox.appendSystem(
    [
      {
        type: 'config.loaded',
        requestId: null,
        actor: null,
        details: { policyPath: loaded.path, policySha256: loaded.digest, profiles: policy.profiles.map((p) => p.id), store: env.table ?? 'embedded' },
      },
    ],
    ctx.clock.now(),
  );
  // First: the count of replicas sets this one's Identity Center pace before any work starts.
  budget.start();
  await budget.pass();
  await slack.start();
  sweeper.start();
  publisher.start(1000);
  drift.start();
  quorum.start();
  reviews.start();
  log.info(
    { event: 'bot.started', mode: env.slack.socketMode ? 'socket' : 'http', port: slack.port(), store: env.table ?? 'embedded', codeCache: opts.codeCache },
    'breakglass is running',
  );

  return {
    ctx,
    db,
    publisher,
    sweeper,
    drift,
    homes,
    review,
    reviews,
    port: () => slack.port(),
    async stop() {
      quorum.stop();
      await reviews.stop();
      await slack.stop();
      await drift.stop();
      await sweeper.stop();
      await publisher.stop();
      await homes.stop();
      await budget.stop();
      anchors.close();
      services.close();
      await db.close();
    },
  };
}

async function run(codeCache: CodeCache | undefined): Promise<void> {
  let bot: RunningBot;
  try {
    if (wantsSandbox(process.env)) {
      // A fresh checkout: the real bot against built-in stand-ins (src/sandbox/), on 127.0.0.1 only.
      const { startSandbox, banner } = await import('./sandbox/run.ts');
      const sandbox = await startSandbox({ port: readEnv(process.env, { requireSlack: false }).port, logLevel: logLevel(process.env, 'error') });
      process.stdout.write(`${banner(sandbox.url)}\n`);
      bot = { ...sandbox.bot, stop: () => sandbox.stop() };
    } else bot = await startBot(process.env, { codeCache });
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

/** Runs the bot process: src/start.ts calls this in the bundle; `node dist/main.js` and `npm run dev` through the check below. */
export function main(loaded: { codeCache?: CodeCache } = {}): void {
  // Not awaited at the top level: the sandbox imports this module back (for startBot), and a
  // module still awaiting its top level would never finish loading for it.
  run(loaded.codeCache).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}

// In the bundle this module is never the file node ran (that is dist/start.js).
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main();
