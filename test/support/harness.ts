import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { AccessRequest, RequestStatus } from '../../src/domain/request.ts';
import { createLogger } from '../../src/log.ts';
import { startBot, type RunningBot } from '../../src/main.ts';
import type { Timing } from '../../src/services/context.ts';
import { startTestDatabase, type TestDatabase } from './database.ts';
import { FakeCloudTrail } from './fake-cloudtrail.ts';
import { FakeIdentityCenter, type FakeGroup, type FakeUser } from './fake-identity-center.ts';
import { ShiftableClock } from './clocks.ts';
import { FakeS3 } from './fake-s3.ts';
import { FakeSlack, type FakeSlackUser, type PostedMessage } from './fake-slack.ts';
import { SlackDriver } from './slack-driver.ts';

export const INSTANCE_ARN = 'arn:aws:sso:::instance/ssoins-0123456789abcdef';
export const IDENTITY_STORE = 'd-0123456789';
export const PERMISSION_SET = 'arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef';
export const ACCOUNT = '111111111111';
export const SIGNING_SECRET = 'test-signing-secret';
export const BOT_TOKEN = 'xoxb-test-token';
export const APPROVALS = 'CAPPROVALS';
export const AUDIT = 'CAUDIT';

/** Identity Store ids in AWS's format. */
export const principal = (n: number) => `9067000000-0000000${n}-0000-4000-8000-000000000000`.replace(/^(.{10}-)(\d{8})/, '$1$2');

export const PEOPLE = {
  requester: { slack: 'UREQUESTER', email: 'rita@example.com', principal: '9067000000-11111111-1111-4111-8111-111111111111', tz: 'America/New_York' },
  second: { slack: 'USECOND', email: 'sam@example.com', principal: '9067000000-22222222-2222-4222-8222-222222222222', tz: 'Europe/Berlin' },
  approver1: { slack: 'UAPPROVER1', email: 'ann@example.com' },
  approver2: { slack: 'UAPPROVER2', email: 'bob@example.com' },
  approver3: { slack: 'UAPPROVER3', email: 'cat@example.com' },
  approver4: { slack: 'UAPPROVER4', email: 'dan@example.com' },
  outsider: { slack: 'UOUTSIDER', email: 'olly@example.com' },
  nobody: { slack: 'UNOIDC', email: 'ghost@example.com' },
} as const;

export interface HarnessOptions {
  approvals?: number;
  /** The profile's `approvals` as YAML (rules), instead of the number. */
  approvalsYaml?: string;
  /** More keys of the profile, one per line (`denials: 2`). */
  profileExtra?: string[];
  /** More top-level policy keys, as YAML. */
  policyExtra?: string;
  /** More Slack users. */
  slackUsers?: FakeSlackUser[];
  /** Identity Store groups. */
  icGroups?: FakeGroup[];
  /** More Slack user groups. */
  usergroups?: { id: string; handle: string; users: string[] }[];
  durations?: string[];
  pendingTimeout?: string;
  requireTicket?: boolean;
  endSessions?: boolean;
  standingAccess?: string;
  transport?: 'http' | 'socket';
  timing?: Partial<Timing>;
  icStatusDelayMs?: number;
  driftSeconds?: number;
  drift?: 'alert' | 'revoke';
  /** More settings for the bot (and the CLI through `env`). */
  env?: Record<string, string>;
  /** Start a fake S3 with an Object Lock bucket and give the bot BREAKGLASS_CHECKPOINT_BUCKET. */
  checkpointBucket?: boolean;
  /** The policy's `activityReport` (default: the policy's defaults: on, PT20M, us-east-1). */
  activityReport?: { enabled?: boolean; delay?: string; regions?: string[] };
}

export const CHECKPOINT_BUCKET = 'breakglass-checkpoints';

export interface Harness {
  /** The bot's clock: `advance(ms)` instead of waiting for an expiry. */
  clock: ShiftableClock;
  ic: FakeIdentityCenter;
  /** CloudTrail's event history, on the bot's clock (visibility, rate). */
  trail: FakeCloudTrail;
  s3: FakeS3 | null;
  slack: FakeSlack;
  db: TestDatabase;
  bot: RunningBot;
  driver: SlackDriver;
  logs: string[];
  policyPath: string;
  env: Record<string, string>;
  /** Opens the request modal as `user` and submits it; returns the ack body and the request id if one was stored. */
  request(user: string, values?: Partial<RequestValues>): Promise<{ body: unknown; requestId: string | null }>;
  approvalMessage(requestId: string): PostedMessage | undefined;
  click(user: string, actionId: string, requestId: string): Promise<{ status: number; body: unknown }>;
  waitForStatus(requestId: string, status: RequestStatus, timeoutMs?: number): Promise<AccessRequest>;
  /** Requests as `user`, has two approvers approve on the approval message, and waits for the grant; the request id. */
  granted(user: string, values?: Partial<RequestValues>): Promise<string>;
  get(requestId: string): Promise<AccessRequest>;
  settle(): Promise<void>;
  stop(): Promise<void>;
}

export interface RequestValues {
  profile: string | null;
  duration: string | null;
  justification: string | null;
  ticket: string | null;
  /** The reason category chosen; null leaves the optional select empty. */
  category: string | null;
}

export function policyYaml(o: HarnessOptions): string {
  return `identityCenter:
  instanceArn: ${INSTANCE_ARN}
  identityStoreId: ${IDENTITY_STORE}
  accessPortalUrl: https://d-0123456789.awsapps.com/start
profiles:
  - id: org-admin
    name: Organizations administrator
    accountId: "${ACCOUNT}"
    permissionSetArn: ${PERMISSION_SET}
    durations: [${(o.durations ?? ['PT20S', 'PT1H']).join(', ')}]
    approvals: ${o.approvalsYaml ?? o.approvals ?? 2}
    requireTicket: ${o.requireTicket ?? false}
    endSessions: ${o.endSessions ?? true}
${(o.profileExtra ?? []).map((l) => `    ${l}\n`).join('')}requesters: { users: [${PEOPLE.requester.slack}, ${PEOPLE.second.slack}, ${PEOPLE.nobody.slack}, ${PEOPLE.approver1.slack}], groups: [] }
approvers: { users: [${PEOPLE.approver1.slack}, ${PEOPLE.approver2.slack}], groups: [SAPPROVERS] }
channels: { approvals: ${APPROVALS}, audit: ${AUDIT} }
pendingTimeout: ${o.pendingTimeout ?? 'PT1H'}
drift: ${o.drift ?? 'alert'}
${o.standingAccess ?? ''}
${o.activityReport ? `activityReport: ${JSON.stringify(o.activityReport)}` : ''}
${o.policyExtra ?? ''}
`;
}

export async function startHarness(o: HarnessOptions = {}): Promise<Harness> {
  const users: FakeUser[] = [
    { userId: PEOPLE.requester.principal, userName: 'rita', email: PEOPLE.requester.email, displayName: 'Rita' },
    { userId: PEOPLE.second.principal, userName: 'sam', email: PEOPLE.second.email, displayName: 'Sam' },
    { userId: '9067000000-33333333-3333-4333-8333-333333333333', userName: 'ann', email: PEOPLE.approver1.email, displayName: 'Ann' },
  ];
  // One clock for the bot and Identity Center: a session the fake issues and the instant the bot denies compare on the same time line.
  const clock = new ShiftableClock();
  const ic = await FakeIdentityCenter.start({
    now: () => clock.ms(),
    instanceArn: INSTANCE_ARN,
    identityStoreId: IDENTITY_STORE,
    users,
    groups: o.icGroups ?? [],
    permissionSets: [{ arn: PERMISSION_SET, name: 'OrgAdmin', sessionDuration: 'PT1H', provisionedTo: [ACCOUNT] }],
    statusDelayMs: o.icStatusDelayMs ?? 150,
  });
  const trail = await FakeCloudTrail.start({ now: () => clock.ms() });
  const slackUsers: FakeSlackUser[] = [
    { id: PEOPLE.requester.slack, name: 'rita', realName: 'Rita Requester', email: PEOPLE.requester.email, tz: PEOPLE.requester.tz },
    { id: PEOPLE.second.slack, name: 'sam', realName: 'Sam Second', email: PEOPLE.second.email, tz: PEOPLE.second.tz },
    { id: PEOPLE.approver1.slack, name: 'ann', email: PEOPLE.approver1.email },
    { id: PEOPLE.approver2.slack, name: 'bob', email: PEOPLE.approver2.email },
    { id: PEOPLE.approver3.slack, name: 'cat', email: PEOPLE.approver3.email },
    { id: PEOPLE.approver4.slack, name: 'dan', email: PEOPLE.approver4.email },
    { id: PEOPLE.outsider.slack, name: 'olly', email: PEOPLE.outsider.email },
    { id: PEOPLE.nobody.slack, name: 'ghost', email: PEOPLE.nobody.email },
    ...(o.slackUsers ?? []),
  ];
  const slack = await FakeSlack.start({
    users: slackUsers,
    usergroups: [{ id: 'SAPPROVERS', handle: 'approvers', users: [PEOPLE.approver3.slack, PEOPLE.approver4.slack] }, ...(o.usergroups ?? [])],
    channels: [
      { id: APPROVALS, name: 'breakglass-approvals', members: ['UBOT', PEOPLE.approver1.slack, PEOPLE.approver2.slack, PEOPLE.approver3.slack] },
      { id: AUDIT, name: 'breakglass-audit', members: ['UBOT'] },
    ],
    botToken: BOT_TOKEN,
  });
  const dir = mkdtempSync(join(tmpdir(), 'breakglass-test-'));
  const policyPath = join(dir, 'breakglass.yml');
  writeFileSync(policyPath, policyYaml(o));
  const db = await startTestDatabase('breakglass-e2e');
  const s3 = o.checkpointBucket ? await FakeS3.start({ buckets: [{ name: CHECKPOINT_BUCKET, region: 'us-east-1', objectLock: { mode: 'COMPLIANCE', days: 365 } }] }) : null;

  // The AWS SDK reads these from the process environment, exactly as it does in production.
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDTEST',
    AWS_SECRET_ACCESS_KEY: 'test-secret',
    AWS_ENDPOINT_URL_SSO_ADMIN: ic.url,
    AWS_ENDPOINT_URL_IDENTITYSTORE: ic.url,
    AWS_ENDPOINT_URL_CLOUDTRAIL: trail.url,
    AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
    ...(s3 ? { AWS_ENDPOINT_URL_S3: s3.url } : {}),
  });
  const transport = o.transport ?? 'http';
  const env: Record<string, string> = {
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_API_URL: slack.apiUrl,
    PORT: '0',
    BREAKGLASS_POLICY: policyPath,
    BREAKGLASS_TABLE: db.table,
    BREAKGLASS_SWEEP_SECONDS: '1',
    BREAKGLASS_DRIFT_SECONDS: String(o.driftSeconds ?? 300),
    LOG_LEVEL: 'debug',
    ...(s3 ? { BREAKGLASS_CHECKPOINT_BUCKET: CHECKPOINT_BUCKET } : {}),
    ...o.env,
    ...(transport === 'http' ? { SLACK_SOCKET_MODE: 'false', SLACK_SIGNING_SECRET: SIGNING_SECRET } : { SLACK_APP_TOKEN: 'xapp-test-token' }),
  };
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  const bot = await startBot(env, { logger: createLogger('debug', sink), timing: o.timing, clock });
  const driver = new SlackDriver({ slack, signingSecret: SIGNING_SECRET, eventsUrl: `http://127.0.0.1:${bot.port()}/slack/events`, transport });

  const get = async (id: string) => {
    const r = await bot.ctx.requests.get(id);
    if (!r) throw new Error(`no request ${id}`);
    return r;
  };

  const requestsOf = async (user: string): Promise<string[]> => {
    const ids: string[] = [];
    for (const item of await bot.ctx.requests.due(null, 1000)) {
      const r = await bot.ctx.requests.get(item.id);
      if (r?.requester.slackUserId === user) ids.push(r.id);
    }
    return ids;
  };

  const harness: Harness = {
    clock,
    ic,
    trail,
    s3,
    slack,
    db,
    bot,
    driver,
    logs,
    policyPath,
    env,
    async request(user, values = {}) {
      const known = new Set(await requestsOf(user));
      const before = new Set(slack.views().map((v) => v.id));
      const opened = await driver.slashCommand(user, '');
      if (opened.status !== 200) throw new Error(`slash command failed: ${opened.status}`);
      const view = await slack.waitFor(() => slack.views().find((v) => !before.has(v.id) && v.view?.callback_id === 'breakglass_request'));
      const v: RequestValues = {
        profile: 'org-admin',
        duration: 'PT20S',
        justification: 'Production is down and the org SCP needs a fix',
        ticket: null,
        category: null,
        ...values,
      };
      const sub = await driver.viewSubmission(
        user,
        view.id,
        { profile: { profile: v.profile }, duration: { duration: v.duration }, justification: { justification: v.justification }, ticket: { ticket: v.ticket }, ...(v.category ? { category: { category: v.category } } : {}) },
        { allowUnknownOptions: true, skipClientValidation: true },
      );
      const after = await requestsOf(user);
      const requestId = after.find((id) => !known.has(id)) ?? null;
      return { body: sub.body, requestId };
    },
    approvalMessage(requestId) {
      return slack.messages(APPROVALS).find((m) => JSON.stringify(m.blocks ?? []).includes(requestId));
    },
    async click(user, actionId, requestId) {
      const msg = await slack.waitFor(() => harness.approvalMessage(requestId) ?? slack.dmsTo(PEOPLE.requester.slack).concat(slack.dmsTo(PEOPLE.second.slack)).find((m) => JSON.stringify(m.blocks ?? []).includes(`"value":"${requestId}"`)));
      return driver.blockAction(user, { actionId, value: requestId, message: { channel: msg.channel, ts: msg.ts }, force: true });
    },
    async granted(user, values = {}) {
      const { requestId, body } = await harness.request(user, values);
      if (!requestId) throw new Error(`request was not stored: ${JSON.stringify(body)}`);
      await slack.waitFor(() => harness.approvalMessage(requestId), 5000);
      await harness.click(PEOPLE.approver1.slack, 'approve', requestId);
      await harness.click(PEOPLE.approver2.slack, 'approve', requestId);
      await harness.waitForStatus(requestId, 'ACTIVE');
      return requestId;
    },
    async waitForStatus(id, status, timeoutMs = 15_000) {
      return eventually(async () => {
        const r = await bot.ctx.requests.get(id);
        return r?.status === status ? r : undefined;
      }, timeoutMs, () => `request ${id} never reached ${status}`);
    },
    get,
    async settle() {
      await bot.sweeper.idle();
      await bot.publisher.idle();
      await bot.homes.idle();
    },
    async stop() {
      await bot.stop();
      await slack.close();
      await ic.close();
      await trail.close();
      await db.close();
      await s3?.close();
    },
  };
  return harness;
}

/** Polls an async probe until it yields a value. */
export async function eventually<T>(probe: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 10_000, what = () => 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
