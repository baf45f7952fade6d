/**
 * The chaos rig: the real bot as one or more child processes (`npm start`'s
 * command, as the image runs it; HTTP mode) sharing one dynalite table, with the fake
 * Identity Center and fake Slack in this process, plus the tools to drive
 * lifecycles through signed Slack requests while processes are killed and
 * restarted, and to watch what Identity Center holds meanwhile.
 *
 * Everything listens on 127.0.0.1. Each request is made by a requester of its
 * own, so an assignment (user × permission set × account) belongs to exactly
 * one request and can be judged against that request's expiry.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { AccessRequest } from '../../src/domain/request.ts';
import { freePort } from '../../src/store/dynamo.ts';
import { requestKey } from '../../src/store/keys.ts';
import { OutboxStore } from '../../src/store/outbox.ts';
import { RequestStore, toRequest } from '../../src/store/requests.ts';
import { startArgs } from '../support/build.ts';
import { startTestDatabase, type TestDatabase } from '../support/database.ts';
import { FakeIdentityCenter, type RecordedCall } from '../support/fake-identity-center.ts';
import { FakeSlack, type PostedMessage, type RecordedSlackCall } from '../support/fake-slack.ts';
import { SlackDriver } from '../support/slack-driver.ts';

export const INSTANCE_ARN = 'arn:aws:sso:::instance/ssoins-0123456789abcdef';
export const IDENTITY_STORE = 'd-0123456789';
export const PERMISSION_SET = 'arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef';
export const ACCOUNT = '111111111111';
export const SIGNING_SECRET = 'chaos-signing-secret';
export const BOT_TOKEN = 'xoxb-chaos-token';
export const APPROVALS = 'CAPPROVALS';
export const AUDIT = 'CAUDIT';
/** AWS's documented limit on outstanding CreateAccountAssignment calls. */
export const AWS_MAX_OUTSTANDING_CREATIONS = 15;

const ROOT = new URL('../../', import.meta.url).pathname;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export interface Person {
  slack: string;
  name: string;
  email: string;
  /** Identity Store user id; null for people who are not in Identity Center (approvers). */
  principal: string | null;
}

/** A valid Identity Store user id, unique per n. */
export function principalId(n: number): string {
  const hex = n.toString(16).padStart(12, '0');
  return `9067000000-${hex.slice(4)}-0000-4000-8000-${hex}`;
}

export interface RigOptions {
  /** Names the temp directory and log lines. */
  label: string;
  /** Requesters, each used for one request. */
  requesters: number;
  /** Approvers in the policy (default 4). */
  approvers?: number;
  /** Quorum (default 2). */
  approvals?: number;
  /** The profile's durations (default PT3S … PT8S, PT1H). */
  durations?: string[];
  /** BREAKGLASS_SWEEP_SECONDS (default 1); null leaves it unset, i.e. the bot's default (10 s), as the bench runs it. */
  sweepSeconds?: number | null;
  /** How long the fake keeps a creation/deletion IN_PROGRESS (default 150). */
  icStatusDelayMs?: number;
  /**
   * The fake's own limit on outstanding creations. Default 1000: the fake then
   * does not enforce AWS's 15, so maxOutstandingCreationsSeen measures what
   * the bot itself allowed (with the fake enforcing 15, the check could never fail).
   */
  icMaxOutstandingCreations?: number;
  /** The fake's fault PRNG seed. */
  icSeed?: number;
  /** LOG_LEVEL of the bot processes (default info). */
  logLevel?: string;
  /**
   * Give the holder and the bystander their hand-made assignment at start (default true). The
   * bench turns it off: undeclared standing access is drift, and its alerts are work the bench does not measure.
   */
  handMadeAssignments?: boolean;
  /** More environment for the bot processes (e.g. BREAKGLASS_IC_CALLS_PER_SECOND). */
  botEnv?: Record<string, string>;
}

/** One stretch of time a bot process was running (from spawn to kill or exit). */
export interface UpInterval {
  bot: string;
  from: number;
  to: number | null;
}

export interface Finding {
  at: number;
  what: string;
}

/** One bot process; start() may be called again after kill() (same port, same table). */
export class BotProcess {
  child: ChildProcess | null = null;
  spawnedAt = 0;
  healthyAt = 0;
  starts = 0;
  readonly driver: SlackDriver;
  private expectingExit = false;
  private interval: UpInterval | null = null;
  private exited: Promise<void> = Promise.resolve();
  private readonly log: WriteStream;

  constructor(
    private readonly rig: Rig,
    readonly name: string,
    readonly port: number,
    readonly logPath: string,
  ) {
    this.log = createWriteStream(logPath, { flags: 'a' });
    this.driver = new SlackDriver({ slack: rig.slack, signingSecret: SIGNING_SECRET, eventsUrl: `http://127.0.0.1:${port}/slack/events`, transport: 'http' });
  }

  /** Running (spawned and not killed or exited); it may still be starting up. */
  get alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Alive and answered /healthz. */
  get up(): boolean {
    return this.alive && this.healthyAt >= this.spawnedAt && this.healthyAt > 0;
  }

  async start(): Promise<void> {
    if (this.alive) throw new Error(`${this.name} is already running`);
    this.starts++;
    this.expectingExit = false;
    this.log.write(`\n===== ${this.name} start #${this.starts} at ${new Date().toISOString()} =====\n`);
    const child = spawn(process.execPath, startArgs(), {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...this.rig.botEnv(this.port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.spawnedAt = Date.now();
    this.healthyAt = 0;
    const interval: UpInterval = { bot: this.name, from: this.spawnedAt, to: null };
    this.interval = interval;
    this.rig.timeline.push(interval);
    child.stdout?.on('data', (d: Buffer) => this.log.write(d));
    child.stderr?.on('data', (d: Buffer) => this.log.write(d));
    this.exited = new Promise<void>((resolve) =>
      child.on('exit', (code, signal) => {
        if (interval.to === null) interval.to = Date.now();
        if (!this.expectingExit) {
          this.rig.findings.push({ at: Date.now(), what: `${this.name} exited on its own (code ${code}, signal ${signal}); log ${this.logPath}` });
        }
        resolve();
      }),
    );
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (!this.alive) throw new Error(`${this.name} exited during start-up; log ${this.logPath}:\n${this.tail()}`);
      const res = await fetch(`http://127.0.0.1:${this.port}/healthz`, { signal: AbortSignal.timeout(1000) }).catch(() => null);
      if (res) {
        await res.text().catch(() => '');
        if (res.ok) break;
      }
      if (Date.now() > deadline) throw new Error(`${this.name} did not become healthy within 30 s; log ${this.logPath}:\n${this.tail()}`);
      await sleep(50);
    }
    this.healthyAt = Date.now();
  }

  /** SIGKILL: no shutdown code runs, leases stay where they were. */
  async kill(): Promise<void> {
    if (!this.alive || !this.child) return;
    this.killNow();
    await this.exited;
  }

  /** Sends SIGKILL at once, synchronously (for hooks that must stop the bot before it reads a response). */
  killNow(): void {
    if (!this.alive || !this.child) return;
    this.expectingExit = true;
    if (this.interval && this.interval.to === null) this.interval.to = Date.now();
    this.child.kill('SIGKILL');
    this.log.write(`\n===== ${this.name} SIGKILLed at ${new Date().toISOString()} =====\n`);
  }

  async waitExit(): Promise<void> {
    await this.exited;
  }

  /** Graceful stop (SIGTERM), used at the end. */
  async stop(): Promise<void> {
    if (!this.alive || !this.child) return;
    this.expectingExit = true;
    this.child.kill('SIGTERM');
    const done = await Promise.race([this.exited.then(() => true), sleep(10_000).then(() => false)]);
    if (!done) await this.kill();
  }

  tail(lines = 40): string {
    try {
      return readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  closeLog(): Promise<void> {
    return new Promise((resolve) => this.log.end(() => resolve()));
  }
}

/** Samples what Identity Center holds, to judge when each assignment disappeared. */
export class AssignmentMonitor {
  /** principal → sample instants at which it held the profile's assignment. */
  readonly present = new Map<string, number[]>();
  /** Principals that must always hold their assignment → instants at which they did not. */
  readonly missing = new Map<string, number[]>();
  samples = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ic: FakeIdentityCenter,
    private readonly mustKeep: string[],
  ) {}

  start(everyMs = 100): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  sample(): void {
    const t = Date.now();
    this.samples++;
    const held = new Set(this.ic.assignments().filter((a) => a.accountId === ACCOUNT && a.permissionSetArn === PERMISSION_SET).map((a) => a.principalId));
    for (const p of held) {
      let list = this.present.get(p);
      if (!list) this.present.set(p, (list = []));
      list.push(t);
    }
    for (const p of this.mustKeep) {
      if (held.has(p)) continue;
      let list = this.missing.get(p);
      if (!list) this.missing.set(p, (list = []));
      list.push(t);
    }
  }

  /** Last instant the principal was seen holding the assignment. */
  lastSeen(principal: string): number | null {
    return this.present.get(principal)?.at(-1) ?? null;
  }

  firstSeen(principal: string): number | null {
    return this.present.get(principal)?.[0] ?? null;
  }
}

export class Rig {
  readonly timeline: UpInterval[] = [];
  readonly findings: Finding[] = [];
  readonly bots: BotProcess[] = [];
  readonly requests: RequestStore;
  readonly outbox: OutboxStore;
  readonly requesters: Person[];
  readonly approvers: Person[];
  /** A requester who held the assignment before breakglass ever granted it (ic.addAssignment). */
  readonly holder: Person;
  /** Someone with hand-made access who never asks for anything. */
  readonly bystander: Person;
  readonly monitor: AssignmentMonitor;
  readonly sweepMs: number;

  private constructor(
    readonly o: RigOptions,
    readonly ic: FakeIdentityCenter,
    readonly slack: FakeSlack,
    readonly db: TestDatabase,
    readonly dir: string,
    readonly policyPath: string,
    people: { requesters: Person[]; approvers: Person[]; holder: Person; bystander: Person },
  ) {
    this.requests = new RequestStore(db);
    this.outbox = new OutboxStore(db);
    this.requesters = people.requesters;
    this.approvers = people.approvers;
    this.holder = people.holder;
    this.bystander = people.bystander;
    this.sweepMs = (o.sweepSeconds === null ? 10 : (o.sweepSeconds ?? 1)) * 1000;
    this.monitor = new AssignmentMonitor(ic, [people.holder.principal ?? '', people.bystander.principal ?? '']);
  }

  static async start(o: RigOptions): Promise<Rig> {
    const requesters: Person[] = Array.from({ length: o.requesters }, (_, i) => ({
      slack: `UREQ${String(i).padStart(4, '0')}`,
      name: `req${i}`,
      email: `req${i}@example.com`,
      principal: principalId(i + 1),
    }));
    const approvers: Person[] = Array.from({ length: o.approvers ?? 4 }, (_, i) => ({
      slack: `UAPP${String(i).padStart(4, '0')}`,
      name: `app${i}`,
      email: `app${i}@example.com`,
      principal: null,
    }));
    const holder: Person = { slack: 'UHOLDER', name: 'holder', email: 'holder@example.com', principal: principalId(0xa0000) };
    const bystander: Person = { slack: 'UBYSTANDER', name: 'bystander', email: 'bystander@example.com', principal: principalId(0xb0000) };
    const icPeople = [...requesters, holder, bystander];

    const ic = await FakeIdentityCenter.start({
      instanceArn: INSTANCE_ARN,
      identityStoreId: IDENTITY_STORE,
      users: icPeople.map((p) => ({ userId: p.principal ?? '', userName: p.name, email: p.email, displayName: p.name })),
      permissionSets: [{ arn: PERMISSION_SET, name: 'OrgAdmin', sessionDuration: 'PT1H', provisionedTo: [ACCOUNT] }],
      statusDelayMs: o.icStatusDelayMs ?? 150,
      maxOutstandingCreations: o.icMaxOutstandingCreations ?? 1000,
      seed: o.icSeed ?? 1,
    });
    if (o.handMadeAssignments !== false) for (const p of [holder, bystander]) ic.addAssignment({ accountId: ACCOUNT, permissionSetArn: PERMISSION_SET, principalId: p.principal ?? '' });

    const slack = await FakeSlack.start({
      users: [...icPeople, ...approvers].map((p) => ({ id: p.slack, name: p.name, realName: p.name, email: p.email, tz: 'UTC' })),
      channels: [
        { id: APPROVALS, name: 'breakglass-approvals', members: ['UBOT', ...approvers.map((a) => a.slack)] },
        { id: AUDIT, name: 'breakglass-audit', members: ['UBOT'] },
      ],
      botToken: BOT_TOKEN,
    });
    const dir = mkdtempSync(join(tmpdir(), `breakglass-${o.label}-`));
    const policyPath = join(dir, 'breakglass.yml');
    writeFileSync(
      policyPath,
      `identityCenter:
  instanceArn: ${INSTANCE_ARN}
  identityStoreId: ${IDENTITY_STORE}
  accessPortalUrl: https://d-0123456789.awsapps.com/start
profiles:
  - id: org-admin
    name: Organizations administrator
    accountId: "${ACCOUNT}"
    permissionSetArn: ${PERMISSION_SET}
    durations: [${(o.durations ?? ['PT3S', 'PT4S', 'PT5S', 'PT6S', 'PT8S', 'PT1H']).join(', ')}]
    approvals: ${o.approvals ?? 2}
    requireTicket: false
requesters: { users: [${[...requesters, holder].map((p) => p.slack).join(', ')}], groups: [] }
approvers: { users: [${approvers.map((p) => p.slack).join(', ')}], groups: [] }
channels: { approvals: ${APPROVALS}, audit: ${AUDIT} }
pendingTimeout: PT1H
`,
    );
    const db = await startTestDatabase(`breakglass-${o.label}`);
    const rig = new Rig(o, ic, slack, db, dir, policyPath, { requesters, approvers, holder, bystander });
    rig.monitor.start(100);
    return rig;
  }

  /** The bot's whole configuration: environment variables only, as in production. */
  botEnv(port: number): Record<string, string> {
    return {
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_SOCKET_MODE: 'false',
      SLACK_API_URL: this.slack.apiUrl,
      PORT: String(port),
      BREAKGLASS_POLICY: this.policyPath,
      BREAKGLASS_TABLE: this.db.table,
      ...(this.o.sweepSeconds === null ? {} : { BREAKGLASS_SWEEP_SECONDS: String(this.o.sweepSeconds ?? 1) }),
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIDCHAOS',
      AWS_SECRET_ACCESS_KEY: 'chaos-secret',
      AWS_ENDPOINT_URL_SSO_ADMIN: this.ic.url,
      AWS_ENDPOINT_URL_IDENTITYSTORE: this.ic.url,
      AWS_ENDPOINT_URL_DYNAMODB: this.db.endpoint,
      LOG_LEVEL: this.o.logLevel ?? 'info',
      ...this.o.botEnv,
    };
  }

  /** A new bot process on a port of its own, started and healthy. */
  async addBot(name = `bot${this.bots.length + 1}`): Promise<BotProcess> {
    const bot = new BotProcess(this, name, await freePort(), join(this.dir, `${name}.log`));
    this.bots.push(bot);
    await bot.start();
    return bot;
  }

  upBots(): BotProcess[] {
    return this.bots.filter((b) => b.up);
  }

  /** Waits until at least one bot is up. */
  async someUpBot(timeoutMs = 120_000): Promise<BotProcess> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const up = this.upBots();
      if (up.length > 0) return up[Math.floor(Math.random() * up.length)] as BotProcess;
      if (Date.now() > deadline) throw new Error('no bot process came up');
      await sleep(50);
    }
  }

  // ----------------------------------------------------------------- reading the store

  async get(id: string): Promise<AccessRequest> {
    const r = await this.requests.get(id);
    if (!r) throw new Error(`no request ${id}`);
    return r;
  }

  /** The raw item, with the lease fields the RequestStore hides. */
  async rawItem(id: string): Promise<Record<string, unknown> | null> {
    const out = await this.db.doc.send(new GetCommand({ TableName: this.db.table, Key: requestKey(id), ConsistentRead: true }));
    return out.Item ?? null;
  }

  /** Every request a person made (a test-side Scan of the small test table). */
  async requestsBy(slackUserId: string): Promise<AccessRequest[]> {
    const found: AccessRequest[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.db.doc.send(
        new ScanCommand({
          TableName: this.db.table,
          FilterExpression: 'sk = :r AND requester.slackUserId = :u',
          ExpressionAttributeValues: { ':r': 'REQUEST', ':u': slackUserId },
          ExclusiveStartKey: start,
          ConsistentRead: true,
        }),
      );
      for (const it of out.Items ?? []) found.push(toRequest(it));
      start = out.LastEvaluatedKey;
    } while (start);
    return found.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  async waitForStatus(id: string, statuses: AccessRequest['status'] | AccessRequest['status'][], timeoutMs: number): Promise<AccessRequest> {
    const want = Array.isArray(statuses) ? statuses : [statuses];
    let last: AccessRequest | null = null;
    return poll(
      async () => {
        last = await this.requests.get(id);
        return last && want.includes(last.status) ? last : null;
      },
      timeoutMs,
      () => `request ${id} did not reach ${want.join('/')} within ${timeoutMs} ms (it is ${last?.status ?? 'missing'})`,
    );
  }

  /** Items with undelivered audit events (any due time). */
  async undelivered(): Promise<number> {
    return (await this.outbox.pending('2100-01-01T00:00:00.000Z', 100)).length;
  }

  // ----------------------------------------------------------------- Slack views

  approvalMessage(id: string): PostedMessage | undefined {
    return this.slack.messages(APPROVALS).find((m) => !m.threadTs && JSON.stringify(m.blocks ?? []).includes(`"value":"${id}"`))
      ?? this.slack.messages(APPROVALS).find((m) => !m.threadTs && JSON.stringify(m.blocks ?? []).includes(id));
  }

  /** Top-level audit-channel messages that are the thread parent of a request (not shouts). */
  auditParents(id: string): PostedMessage[] {
    return this.slack.messages(AUDIT).filter((m) => !m.threadTs && (m.text ?? '').includes(`request \`${id}\` by`));
  }

  grantDm(id: string, requester: Person): PostedMessage | undefined {
    return this.slack.dmsTo(requester.slack).find((m) => {
      const blocks = JSON.stringify(m.blocks ?? []);
      return blocks.includes('"action_id":"end_access"') && blocks.includes(id);
    });
  }

  // ----------------------------------------------------------------- driving lifecycles

  /**
   * The requester opens the modal and submits it, on whichever bot is up;
   * retried across kills until the request is stored (never re-submitted
   * while an earlier submission might still land).
   */
  async submit(who: Person, duration: string, o: { bot?: () => BotProcess | undefined; timeoutMs?: number } = {}): Promise<string> {
    const deadline = Date.now() + (o.timeoutMs ?? 120_000);
    let attempt = 0;
    while (Date.now() < deadline) {
      const stored = (await this.requestsBy(who.slack))[0];
      if (stored) return stored.id;
      const bot = o.bot?.() ?? (await this.someUpBot());
      if (!bot.up) {
        await sleep(100);
        continue;
      }
      attempt++;
      const starts = bot.starts;
      const botDied = () => bot.starts !== starts || !bot.alive;
      const refusals = () => this.slack.dmsTo(who.slack).filter((m) => (m.text ?? '').includes('was not submitted')).length;
      const refusedBefore = refusals();
      try {
        const opened = await bot.driver.slashCommand(who.slack, '');
        if (opened.status !== 200) throw new Error(`slash command HTTP ${opened.status}`);
        const view = await poll(() => this.slack.views().find((v) => v.triggerId === opened.triggerId && v.view?.callback_id === 'breakglass_request'), 5000, () => 'request modal never opened');
        const sub = await bot.driver.viewSubmission(
          who.slack,
          view.id,
          {
            profile: { profile: 'org-admin' },
            duration: { duration },
            justification: { justification: `Chaos drill ${who.name}: fixing the organization SCP` },
            ticket: { ticket: null },
          },
          { allowUnknownOptions: true, skipClientValidation: true },
        );
        if (sub.status !== 200) throw new Error(`view submission HTTP ${sub.status}`);
        const body = sub.body as { response_action?: string } | undefined;
        if (body?.response_action === 'errors') {
          const refusal = JSON.stringify(sub.body);
          // Only "Identity Center did not answer" is worth another try; anything else is the test's own mistake.
          if (!refusal.includes('did not answer')) throw new FatalDriverError(`submission by ${who.slack} refused: ${refusal}`);
          throw new Error(`submission refused: ${refusal}`);
        }
        // Accepted (at once, or "checking…" with the outcome by DM): it lands unless this bot dies first.
        const id = await poll(
          async () => {
            const r = (await this.requestsBy(who.slack))[0];
            if (r) return r.id;
            return botDied() || refusals() > refusedBefore ? 'retry' : null;
          },
          60_000,
          () => `request of ${who.slack} never stored`,
        );
        if (id !== 'retry') return id;
      } catch (err) {
        if (err instanceof FatalDriverError) throw err;
        // The bot died or refused; look again once a bot is up (the store decides whether it landed).
        this.note(`submit by ${who.slack} via ${bot.name}, attempt ${attempt}: ${(err as Error).message}`);
        if (botDied()) await this.someUpBot();
      }
      await sleep(Math.min(2000, 100 * attempt));
    }
    throw new Error(`could not submit a request for ${who.slack}`);
  }

  /**
   * An approver clicks Approve until the click counts (or the request has
   * moved on), `clicks` times per round on each of `targets()` at once.
   */
  async approve(id: string, who: Person, o: { targets?: () => BotProcess[]; clicks?: number; timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (o.timeoutMs ?? 120_000);
    const counted = async () => {
      const r = await this.get(id);
      return r.status !== 'PENDING' || r.approvals.some((a) => a.slackUserId === who.slack);
    };
    while (!(await counted())) {
      if (Date.now() > deadline) throw new Error(`approval of ${id} by ${who.slack} never counted`);
      const msg = this.approvalMessage(id);
      const targets = o.targets?.() ?? this.upBots().slice(0, 1);
      if (msg && targets.length > 0) {
        const clicks = targets.flatMap((b) =>
          Array.from({ length: o.clicks ?? 1 }, () =>
            b.driver.blockAction(who.slack, { actionId: 'approve', value: id, message: { channel: msg.channel, ts: msg.ts }, force: true }),
          ),
        );
        await Promise.allSettled(clicks);
      }
      await poll(counted, msg ? 2000 : 300, () => '').catch(() => undefined);
    }
  }

  /** The requester clicks "End access now" in the grant DM until the request leaves ACTIVE. */
  async endAccess(id: string, who: Person, o: { targets?: () => BotProcess[]; clicks?: number; timeoutMs?: number } = {}): Promise<boolean> {
    const deadline = Date.now() + (o.timeoutMs ?? 60_000);
    for (;;) {
      const r = await this.get(id);
      if (r.status !== 'ACTIVE') return r.revoke?.reason === 'ended';
      if (Date.now() > deadline) throw new Error(`end access of ${id} never took`);
      const dm = this.grantDm(id, who);
      const targets = o.targets?.() ?? this.upBots().slice(0, 1);
      if (dm && targets.length > 0) {
        await Promise.allSettled(
          targets.flatMap((b) =>
            Array.from({ length: o.clicks ?? 1 }, () => b.driver.blockAction(who.slack, { actionId: 'end_access', value: id, message: { channel: dm.channel, ts: dm.ts }, force: true })),
          ),
        );
      }
      await poll(async () => (await this.get(id)).status !== 'ACTIVE', 2000, () => '').catch(() => undefined);
    }
  }

  /** Until every request is final and every audit event delivered (or the timeout). */
  async settle(ids: string[], timeoutMs: number): Promise<void> {
    const final = new Set(['REVOKED', 'FAILED', 'DENIED', 'CANCELLED', 'EXPIRED']);
    let waiting: string[] = [];
    let pending = 0;
    await poll(
      async () => {
        if (this.upBots().length === 0) return null;
        waiting = [];
        for (const id of ids) {
          const r = await this.requests.get(id);
          if (!r || !final.has(r.status) || (r.status === 'FAILED' && r.grant.cleanupPending)) waiting.push(`${id}=${r?.status ?? 'missing'}`);
        }
        if (waiting.length > 0) return null;
        pending = await this.undelivered();
        if (pending > 0) return null;
        await sleep(300);
        return (await this.undelivered()) === 0;
      },
      timeoutMs,
      () => `not settled within ${timeoutMs} ms: ${waiting.length > 0 ? `requests ${waiting.join(', ')}` : `${pending} outbox item(s) undelivered`}`,
    );
  }

  /**
   * When the assignment of a request that expired at `expiresAt` must be gone:
   * once some bot has been running continuously for `allowanceMs` after the
   * expiry (time with no bot running does not count against the bot). Null
   * when no such stretch exists (yet).
   */
  revokeDeadline(expiresAt: number, allowanceMs: number): number | null {
    const spans = this.timeline.map((i) => ({ from: i.from, to: i.to ?? Infinity })).sort((a, b) => a.from - b.from);
    const merged: Array<{ from: number; to: number }> = [];
    for (const s of spans) {
      const last = merged.at(-1);
      if (last && s.from <= last.to) last.to = Math.max(last.to, s.to);
      else merged.push({ ...s });
    }
    for (const m of merged) {
      const start = Math.max(m.from, expiresAt);
      if (m.to - start >= allowanceMs) return start + allowanceMs;
    }
    return null;
  }

  /** Calls `hook` for each call the fake records from now on (before it answers). */
  onIcCall(hook: (c: RecordedCall) => void): () => void {
    return interceptPush(this.ic.calls, hook);
  }

  onSlackCall(hook: (c: RecordedSlackCall) => void): () => void {
    return interceptPush(this.slack.calls, hook);
  }

  successfulCreations(principal: string): RecordedCall[] {
    return this.ic.callsTo('CreateAccountAssignment').filter((c) => c.status === 200 && c.input.PrincipalId === principal);
  }

  acceptedDeletions(principal: string): RecordedCall[] {
    return this.ic.callsTo('DeleteAccountAssignment').filter((c) => c.status === 200 && c.input.PrincipalId === principal);
  }

  holds(principal: string | null): boolean {
    return this.ic.assignments().some((a) => a.principalId === principal && a.accountId === ACCOUNT && a.permissionSetArn === PERMISSION_SET);
  }

  /** Keep the temp directory (logs, dumps) after close: set by dump(), i.e. when a run failed. */
  keep = false;

  /** Driver trouble worth knowing when a run fails (printed at once with CHAOS_DEBUG=1). */
  readonly notes: Finding[] = [];

  note(what: string): void {
    this.notes.push({ at: Date.now(), what });
    if (process.env.CHAOS_DEBUG) process.stderr.write(`[${this.o.label}] ${new Date().toISOString()} ${what}\n`);
  }

  /** Writes what the run left behind (chain, Slack audit channel, Identity Center calls, driver notes) next to the bot logs. */
  async dump(): Promise<string> {
    this.keep = true;
    try {
      const chain: unknown[] = [];
      for await (const r of this.outbox.chain()) chain.push(r);
      writeFileSync(join(this.dir, 'chain.jsonl'), chain.map((r) => JSON.stringify(r)).join('\n'));
      writeFileSync(join(this.dir, 'slack-audit.json'), JSON.stringify(this.slack.messages(AUDIT), null, 1));
      writeFileSync(join(this.dir, 'ic-calls.json'), JSON.stringify(this.ic.calls.map((c) => ({ ...c, at: new Date(c.at).toISOString() })), null, 1));
      writeFileSync(join(this.dir, 'notes.txt'), this.notes.map((n) => `${new Date(n.at).toISOString()} ${n.what}`).join('\n'));
    } catch (err) {
      return `(dump failed: ${(err as Error).message})`;
    }
    return this.dir;
  }

  /** Bot log locations, for failure messages. */
  logs(): string {
    return this.bots.map((b) => `${b.name}: ${b.logPath}`).join(', ');
  }

  async close(): Promise<void> {
    this.monitor.stop();
    await Promise.allSettled(this.bots.map((b) => b.kill()));
    await Promise.allSettled(this.bots.map((b) => b.closeLog()));
    await this.slack.close().catch(() => undefined);
    await this.ic.close().catch(() => undefined);
    await this.db.close().catch(() => undefined);
    if (!this.keep) rmSync(this.dir, { recursive: true, force: true });
  }
}

class FatalDriverError extends Error {}

/** The fakes record every call in a public array before answering it: watch that array. */
function interceptPush<T>(list: T[], hook: (item: T) => void): () => void {
  const original = list.push.bind(list);
  list.push = (...items: T[]) => {
    const n = original(...items);
    for (const item of items) hook(item);
    return n;
  };
  return () => {
    delete (list as { push?: unknown }).push;
  };
}

/** Polls until the probe yields a truthy value. */
export async function poll<T>(probe: () => T | null | undefined | false | Promise<T | null | undefined | false>, timeoutMs: number, what: () => string, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out: ${what()}`);
    await sleep(everyMs);
  }
}
