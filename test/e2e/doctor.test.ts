/**
 * `breakglass doctor` against the fakes: FakeSlack (with the token's scopes), FakeIdentityCenter
 * and dynalite, run in-process with an env object. The AWS SDK reads AWS_* from process.env, as
 * it does in production, so those are set there.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { GetInlinePolicyForPermissionSetCommand, SSOAdminClient } from '@aws-sdk/client-sso-admin';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { captured } from '../support/cli.ts';
import { runDoctor } from '../../src/cli/doctor.ts';
import { MANIFEST_BOT_SCOPES, MANIFEST_PATH, parseManifestScopes } from '../../src/cli/doctor/manifest.ts';
import { pino } from 'pino';
import { readEnv } from '../../src/config/env.ts';
import { freePort, TABLE_DEFINITION } from '../../src/store/dynamo.ts';
import { openDatabase } from '../../src/store/open.ts';
import { runningFile, writeRunning } from '../../src/store/running.ts';
import { startTestDatabase, type TestDatabase } from '../support/database.ts';
import { FakeIdentityCenter } from '../support/fake-identity-center.ts';
import { FakeSlack } from '../support/fake-slack.ts';
import { ACCOUNT, APPROVALS, AUDIT, BOT_TOKEN, IDENTITY_STORE, INSTANCE_ARN, PEOPLE, PERMISSION_SET } from '../support/harness.ts';

const LONG_SESSION_SET = 'arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-fedcba9876543210';
const UNPROVISIONED_SET = 'arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-00000000000000aa';
const AWS_SECRET = 'doctor-test-aws-secret';

/** The scopes manifest.yml asks for, read from the file itself. */
const MANIFEST = parseManifestScopes(readFileSync(MANIFEST_PATH, 'utf8'));

interface ProfileSpec {
  id: string;
  permissionSetArn?: string;
  durations?: string[];
  endSessions?: boolean;
  approvals?: number;
}

function policyYaml(o: { profiles?: ProfileSpec[]; audit?: string; extra?: string } = {}): string {
  const profiles = o.profiles ?? [{ id: 'org-admin' }];
  return `identityCenter:
  instanceArn: ${INSTANCE_ARN}
  identityStoreId: ${IDENTITY_STORE}
profiles:
${profiles
  .map(
    (p) => `  - id: ${p.id}
    name: Profile ${p.id}
    accountId: "${ACCOUNT}"
    permissionSetArn: ${p.permissionSetArn ?? PERMISSION_SET}
    durations: [${(p.durations ?? ['PT20S', 'PT1H']).join(', ')}]
    approvals: ${p.approvals ?? 2}
${p.endSessions === undefined ? '' : `    endSessions: ${p.endSessions}\n`}`,
  )
  .join('')}requesters: { users: [${PEOPLE.requester.slack}, ${PEOPLE.second.slack}, ${PEOPLE.approver1.slack}], groups: [] }
approvers: { users: [${PEOPLE.approver1.slack}, ${PEOPLE.approver2.slack}], groups: [SAPPROVERS] }
channels: { approvals: ${APPROVALS}, audit: ${o.audit ?? AUDIT} }
${o.extra ?? ''}
`;
}

let ic: FakeIdentityCenter;
let db: TestDatabase;
let dir: string;
const savedEnv = { ...process.env };
const slacks: FakeSlack[] = [];

beforeAll(async () => {
  ic = await FakeIdentityCenter.start({
    instanceArn: INSTANCE_ARN,
    identityStoreId: IDENTITY_STORE,
    permissionSets: [
      { arn: PERMISSION_SET, name: 'OrgAdmin', sessionDuration: 'PT1H', provisionedTo: [ACCOUNT] },
      { arn: LONG_SESSION_SET, name: 'LongSession', sessionDuration: 'PT12H', provisionedTo: [ACCOUNT] },
      { arn: UNPROVISIONED_SET, name: 'Unprovisioned', sessionDuration: 'PT1H', provisionedTo: [] },
    ],
    requestsPerSecond: 1000,
  });
  db = await startTestDatabase('breakglass-doctor');
  dir = mkdtempSync(join(tmpdir(), 'breakglass-doctor-'));
  Object.assign(process.env, {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDDOCTOR',
    AWS_SECRET_ACCESS_KEY: AWS_SECRET,
    AWS_ENDPOINT_URL_SSO_ADMIN: ic.url,
    AWS_ENDPOINT_URL_IDENTITYSTORE: ic.url,
    AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
  });
});

afterEach(async () => {
  // Each test may point the SDK elsewhere; put the fakes back.
  Object.assign(process.env, { AWS_ENDPOINT_URL_SSO_ADMIN: ic.url, AWS_ENDPOINT_URL_DYNAMODB: db.endpoint });
  await Promise.all(slacks.splice(0).map((s) => s.close()));
});

afterAll(async () => {
  process.env = savedEnv;
  await ic?.close();
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function startSlack(o: { scopes?: string[]; botToken?: string } = {}): Promise<FakeSlack> {
  const slack = await FakeSlack.start({
    users: [
      { id: PEOPLE.requester.slack, name: 'rita' },
      { id: PEOPLE.second.slack, name: 'sam' },
      { id: PEOPLE.approver1.slack, name: 'ann' },
      { id: PEOPLE.approver2.slack, name: 'bob' },
      { id: PEOPLE.approver3.slack, name: 'cat' },
      { id: PEOPLE.approver4.slack, name: 'dan' },
    ],
    usergroups: [{ id: 'SAPPROVERS', handle: 'approvers', users: [PEOPLE.approver3.slack, PEOPLE.approver4.slack] }],
    channels: [
      { id: APPROVALS, name: 'breakglass-approvals', members: ['UBOT', PEOPLE.approver1.slack] },
      { id: AUDIT, name: 'breakglass-audit', members: ['UBOT'] },
    ],
    botToken: o.botToken ?? BOT_TOKEN,
    scopes: o.scopes ?? MANIFEST,
  });
  slacks.push(slack);
  return slack;
}

let files = 0;
function writePolicy(text: string): string {
  const path = join(dir, `policy-${++files}.yml`);
  writeFileSync(path, text);
  return path;
}

function envFor(slack: FakeSlack, policyPath: string, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return {
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_APP_TOKEN: 'xapp-test-token',
    SLACK_API_URL: slack.apiUrl,
    BREAKGLASS_POLICY: policyPath,
    BREAKGLASS_TABLE: db.table,
    AWS_REGION: 'us-east-1',
    ...extra,
  };
}

async function doctor(env: NodeJS.ProcessEnv): Promise<{ code: number; out: string; err: string; lines: string[] }> {
  const { code, out: o, err: e } = await captured((out, err) => runDoctor(env, out, err));
  // No secret ever reaches either stream.
  for (const secret of [BOT_TOKEN, 'xapp-test-token', AWS_SECRET]) {
    expect(o).not.toContain(secret);
    expect(e).not.toContain(secret);
  }
  return { code, out: o, err: e, lines: o.trimEnd().split('\n') };
}

/** The check line containing `text`, and the fix printed under it. */
function line(r: { lines: string[] }, text: string): { line: string; fix: string } {
  const i = r.lines.findIndex((l) => /^[✓✗⚠–] /.test(l) && l.includes(text));
  if (i < 0) throw new Error(`no check line containing "${text}" in:\n${r.lines.join('\n')}`);
  const next = r.lines[i + 1] ?? '';
  return { line: r.lines[i] ?? '', fix: next.startsWith('    fix: ') ? next.slice('    fix: '.length) : '' };
}

describe('breakglass doctor', () => {
  it('passes a good setup: every check ✓, exit 0, and nothing is posted to Slack', async () => {
    const slack = await startSlack();
    const r = await doctor(envFor(slack, writePolicy(policyYaml())));
    expect(r.code, r.out).toBe(0);
    expect(r.lines.every((l) => l.startsWith('✓ ')), r.out).toBe(true);
    for (const text of [
      'environment settings are valid',
      'policy file',
      'Slack bot token (SLACK_BOT_TOKEN) works: bot @breakglass',
      'Slack token has the scopes manifest.yml asks for',
      `approvals channel ${APPROVALS}: the bot is a member`,
      `audit channel ${AUDIT}: the bot is a member`,
      'user group SAPPROVERS (approvers) resolves: 2 members',
      'profile org-admin: every requester reaches 2 approvals',
      `Identity Center instance ${INSTANCE_ARN} is reachable`,
      'permission set ps-0123456789abcdef (OrgAdmin) exists and is provisioned to account 111111111111',
      'session duration PT1H',
      'profile org-admin: the bot may read and write the inline policy of ps-0123456789abcdef (to end sessions)',
      `DynamoDB table ${db.table} is reachable`,
    ]) {
      expect(line(r, text).line.startsWith('✓'), text).toBe(true);
    }
    expect(r.lines).toHaveLength(13);
    expect(r.err).toContain('all 13 checks passed');
    // The write probe stored nothing.
    const sso = new SSOAdminClient({ endpoint: ic.url, region: 'us-east-1' });
    expect(await sso.send(new GetInlinePolicyForPermissionSetCommand({ InstanceArn: INSTANCE_ARN, PermissionSetArn: PERMISSION_SET }))).toMatchObject({ InlinePolicy: '' });
    sso.destroy();
    // The membership probe posts nothing: Slack refused every call for want of text.
    expect(slack.messages()).toHaveLength(0);
    expect(slack.callsTo('chat.postMessage').map((c) => c.error)).toEqual(['channel_not_found', 'no_text', 'no_text']);
    expect(ic.callsTo('ListInstances')).not.toHaveLength(0);
  });

  it('fails on a token Slack rejects, names the fix, and still checks AWS and the table', async () => {
    const slack = await startSlack({ botToken: 'xoxb-the-rotated-token' });
    const r = await doctor(envFor(slack, writePolicy(policyYaml())));
    expect(r.code).not.toBe(0);
    const token = line(r, 'Slack bot token (SLACK_BOT_TOKEN) works');
    expect(token.line).toMatch(/^✗ .*invalid_auth/);
    expect(token.fix).toContain('"Bot User OAuth Token" (xoxb-…) from its "OAuth & Permissions" page');
    expect(line(r, 'approvals and audit channels').line).toMatch(/^– .*not checked \(the token check failed\)/);
    expect(line(r, 'quorum').line).toMatch(/^– /);
    expect(line(r, 'Identity Center instance').line).toMatch(/^✓/);
    expect(line(r, 'session duration').line).toMatch(/^✓/);
    expect(line(r, 'DynamoDB table').line).toMatch(/^✓/);
    expect(r.out).not.toContain('xoxb-the-rotated-token');
  });

  it('fails on a channel the bot is not in (or that does not exist), naming the fix', async () => {
    const slack = await startSlack();
    slack.setChannelMembers(AUDIT, [PEOPLE.approver1.slack]);
    const r = await doctor(envFor(slack, writePolicy(policyYaml())));
    expect(r.code).not.toBe(0);
    expect(line(r, `approvals channel ${APPROVALS}`).line).toMatch(/^✓/);
    const audit = line(r, `audit channel ${AUDIT}`);
    expect(audit.line).toBe(`✗ audit channel ${AUDIT}: the bot is not a member`);
    expect(audit.fix).toBe(`invite @breakglass to channel ${AUDIT}: type "/invite @breakglass" in the channel`);
    expect(slack.messages()).toHaveLength(0);

    const missing = await doctor(envFor(slack, writePolicy(policyYaml({ audit: 'CNOSUCHCHANNEL' }))));
    const gone = line(missing, 'audit channel CNOSUCHCHANNEL');
    expect(gone.line).toMatch(/^✗ .*no such channel, or a private channel the bot is not in/);
    expect(gone.fix).toContain('set channels.audit in the policy');

    // Were Slack to check the missing text before the channel, the probe could not tell: ⚠, never ✓.
    slack.failMethod('chat.postMessage', { error: 'no_text' });
    const blind = await doctor(envFor(slack, writePolicy(policyYaml())));
    expect(line(blind, `approvals channel ${APPROVALS}`).line).toBe(`⚠ approvals channel ${APPROVALS}: could not tell whether the bot is a member`);
    expect(blind.lines.filter((l) => l.includes('channel C') && l.startsWith('✓'))).toEqual([]);
  });

  it('with channels:read, reads membership from conversations.info and warns about the extra scope', async () => {
    const slack = await startSlack({ scopes: [...MANIFEST, 'channels:read'] });
    const good = await doctor(envFor(slack, writePolicy(policyYaml())));
    expect(good.code, good.out).toBe(0);
    const extra = line(good, 'scopes manifest.yml does not ask for');
    expect(extra.line).toBe('⚠ Slack token also has scopes manifest.yml does not ask for: channels:read');
    expect(line(good, `audit channel #breakglass-audit (${AUDIT}): the bot is a member`).line).toMatch(/^✓/);
    expect(slack.callsTo('conversations.info')).toHaveLength(2);
    expect(slack.callsTo('chat.postMessage')).toHaveLength(0);

    slack.setChannelMembers(AUDIT, []);
    const bad = await doctor(envFor(slack, writePolicy(policyYaml())));
    expect(bad.code).not.toBe(0);
    expect(line(bad, 'audit channel').fix).toBe('invite @breakglass to #breakglass-audit: type "/invite @breakglass" in the channel');
  });

  it('fails when a scope of the manifest is missing, naming it and the reinstall', async () => {
    const slack = await startSlack({ scopes: MANIFEST.filter((s) => s !== 'usergroups:read') });
    const r = await doctor(envFor(slack, writePolicy(policyYaml())));
    expect(r.code).not.toBe(0);
    const scopes = line(r, 'Slack token has the scopes manifest.yml asks for');
    expect(scopes.line).toBe('✗ Slack token has the scopes manifest.yml asks for: missing usergroups:read');
    expect(scopes.fix).toContain('reinstall the app from manifest.yml');
    expect(line(r, 'user group SAPPROVERS').line).toMatch(/^✗ .*lacks usergroups:read/);
    expect(line(r, 'quorum').line).toMatch(/^– .*could not be resolved/);
  });

  it('fails when a requester could reach quorum only with one particular approver', async () => {
    const slack = await startSlack();
    // Pool: ann, bob + group (cat, dan) = 4. Three approvals need 4 besides the requester; ann requests too.
    const r = await doctor(envFor(slack, writePolicy(policyYaml({ profiles: [{ id: 'org-admin', approvals: 3 }] }))));
    expect(r.code).not.toBe(0);
    const q = line(r, `requester ${PEOPLE.approver1.slack}`);
    expect(q.line).toBe('✗ profile org-admin: requester UAPPROVER1 reaches 3 approvals only with 3 other approvers, so one of them would be required');
    expect(q.fix).toBe('add approvers (1 more to approvers.users or an approvers group) or lower approvals of profile org-admin to 2');
    // Requesters who are not approvers have all four: no line for them.
    expect(r.out).not.toContain(`requester ${PEOPLE.requester.slack}`);

    slack.setUsergroup({ id: 'SAPPROVERS', handle: 'approvers', users: [] });
    const small = await doctor(envFor(slack, writePolicy(policyYaml())));
    const pool = line(small, 'profile org-admin: 2 approvals need at least 3 approvers');
    expect(pool.line).toMatch(/^✗ .*the approver pool has 2$/);
    expect(pool.fix).toBe('add approvers (1 more to approvers.users or an approvers group) or lower approvals of profile org-admin to 1');
  });

  it('fails a permission set whose session outlasts the longest grant, and one not provisioned', async () => {
    const slack = await startSlack();
    const r = await doctor(
      envFor(
        slack,
        writePolicy(
          policyYaml({
            profiles: [
              { id: 'org-admin' },
              { id: 'long', permissionSetArn: LONG_SESSION_SET, durations: ['PT15M', 'PT1H', 'PT2H'], endSessions: false },
              { id: 'long-ended', permissionSetArn: LONG_SESSION_SET, durations: ['PT15M', 'PT1H', 'PT2H'] },
              { id: 'unprovisioned', permissionSetArn: UNPROVISIONED_SET },
            ],
          }),
        ),
      ),
    );
    expect(r.code).not.toBe(0);
    const long = line(r, 'profile long: session duration PT12H');
    expect(long.line).toMatch(/^✗ .*outlasts the longest grant \(PT2H\): revoking an assignment does not end sessions already issued/);
    expect(long.fix).toMatch(/^shorten the permission set's session duration to at most PT2H/);
    expect(line(r, 'profile org-admin: session duration PT1H').line).toMatch(/^✓/);
    // Sessions are ended at revoke there: a long session only keeps the denial in the policy longer.
    expect(line(r, 'profile long-ended: session duration PT12H').line).toMatch(/^⚠ .*outlasts the longest grant \(PT2H\)/);
    const unprovisioned = line(r, 'profile unprovisioned: permission set');
    expect(unprovisioned.line).toMatch(/^✗ .*not provisioned to account 111111111111/);
    expect(unprovisioned.fix).toContain(`provision-permission-set --instance-arn ${INSTANCE_ARN} --permission-set-arn ${UNPROVISIONED_SET}`);
  });

  it('fails when Identity Center cannot be reached, and still checks Slack and the table', async () => {
    const slack = await startSlack();
    process.env.AWS_ENDPOINT_URL_SSO_ADMIN = `http://127.0.0.1:${await freePort()}`;
    const r = await doctor(envFor(slack, writePolicy(policyYaml())));
    expect(r.code).not.toBe(0);
    const reach = line(r, 'Identity Center instance');
    expect(reach.line).toMatch(/^✗ .*ECONNREFUSED/);
    expect(reach.fix).toContain('cannot reach the endpoint: check network access, AWS_REGION (us-east-1) and AWS_ENDPOINT_URL_SSO_ADMIN');
    expect(line(r, 'profile org-admin: permission set, provisioning and session duration').line).toMatch(/^– .*Identity Center could not be asked/);
    expect(line(r, 'Slack bot token').line).toMatch(/^✓/);
    expect(line(r, 'DynamoDB table').line).toMatch(/^✓/);
  });

  it('fails when the table is missing, unreachable, or lacks the indexes', async () => {
    const slack = await startSlack();
    const policy = writePolicy(policyYaml());
    const missing = await doctor(envFor(slack, policy, { BREAKGLASS_TABLE: 'no-such-table' }));
    expect(missing.code).not.toBe(0);
    const m = line(missing, 'DynamoDB table no-such-table');
    expect(m.line).toMatch(/^✗ .*there is no table no-such-table in us-east-1/);
    expect(m.fix).toContain('deploy it from infra/');

    await db.raw.send(
      new CreateTableCommand({
        TableName: 'bare',
        AttributeDefinitions: [...TABLE_DEFINITION.AttributeDefinitions].slice(0, 2),
        KeySchema: [...TABLE_DEFINITION.KeySchema],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const bare = await doctor(envFor(slack, policy, { BREAKGLASS_TABLE: 'bare' }));
    expect(line(bare, 'DynamoDB table bare').line).toMatch(/^✗ .*index "due" is missing; index "outbox" is missing/);

    // A table made before the requester index: the bot works, without the App Home's history.
    await db.raw.send(
      new CreateTableCommand({
        TableName: 'older',
        AttributeDefinitions: TABLE_DEFINITION.AttributeDefinitions.filter((a) => !a.AttributeName.startsWith('requester')),
        KeySchema: [...TABLE_DEFINITION.KeySchema],
        GlobalSecondaryIndexes: TABLE_DEFINITION.GlobalSecondaryIndexes.filter((i) => i.IndexName !== 'requester') as never,
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const older = await doctor(envFor(slack, policy, { BREAKGLASS_TABLE: 'older' }));
    expect(line(older, 'DynamoDB table older is reachable').line).toMatch(/^✓ .*indexes due, outbox\)$/);
    const gap = older.lines.find((l) => l.startsWith('⚠ DynamoDB table older'));
    expect(gap).toMatch(/index "requester" is missing, so the App Home shows no request history/);

    process.env.AWS_ENDPOINT_URL_DYNAMODB = `http://127.0.0.1:${await freePort()}`;
    const down = await doctor(envFor(slack, policy));
    const d = line(down, `DynamoDB table ${db.table}`);
    expect(d.line).toMatch(/^✗ .*ECONNREFUSED/);
    expect(d.fix).toContain('AWS_ENDPOINT_URL_DYNAMODB');
    expect(line(down, 'Identity Center instance').line).toMatch(/^✓/);
  });

  it('without a table, checks the embedded store: a writable directory, a blocked one, a running bot', async () => {
    const slack = await startSlack();
    const policy = writePolicy(policyYaml());
    const fresh = await doctor(envFor(slack, policy, { BREAKGLASS_TABLE: undefined, BREAKGLASS_DATA_DIR: join(dir, 'data', 'new') }));
    expect(fresh.code, fresh.out).toBe(0);
    expect(line(fresh, 'embedded store directory').line).toMatch(/^✓ .*is writable \(it will be created in /);

    const file = join(dir, 'a-file');
    writeFileSync(file, '');
    const blocked = await doctor(envFor(slack, policy, { BREAKGLASS_TABLE: undefined, BREAKGLASS_DATA_DIR: join(file, 'data') }));
    expect(blocked.code).not.toBe(0);
    expect(line(blocked, 'embedded store directory').fix).toContain('set BREAKGLASS_DATA_DIR to a directory the bot may write');

    // A running bot owns the store and says where it answers; doctor checks it is that bot, then asks it.
    const running = mkdtempSync(join(dir, 'running-'));
    const store = await openDatabase(readEnv({ BREAKGLASS_DATA_DIR: running }, { requireSlack: false }), pino({ level: 'silent' }));
    try {
      const live = await doctor(envFor(slack, policy, { BREAKGLASS_TABLE: undefined, BREAKGLASS_DATA_DIR: running }));
      expect(line(live, `embedded store of the running bot (pid ${process.pid}`).line).toMatch(/^✓/);
      chmodSync(runningFile(running), 0o644);
      const leaky = await doctor(envFor(slack, policy, { BREAKGLASS_TABLE: undefined, BREAKGLASS_DATA_DIR: running }));
      expect(leaky.code).not.toBe(0);
      expect(line(leaky, 'embedded store of the running bot').line).toMatch(/^✗ .*cannot be trusted: it has mode 0644/);
      expect(line(leaky, 'embedded store of the running bot').fix).toContain('restart the bot');
    } finally {
      await store.close();
    }
    writeRunning(running, { endpoint: `http://127.0.0.1:${await freePort()}`, pid: process.pid, secret: randomBytes(32).toString('hex') });
    const dead = await doctor(envFor(slack, policy, { BREAKGLASS_TABLE: undefined, BREAKGLASS_DATA_DIR: running }));
    expect(line(dead, 'embedded store of the running bot').fix).toContain('restart it');
  });

  it('reports configuration problems as fixes and runs every check that does not need what is broken', async () => {
    const slack = await startSlack();
    const badPolicy = writePolicy(policyYaml({ extra: 'colour: red' }));
    const r = await doctor(envFor(slack, badPolicy, { SLACK_APP_TOKEN: undefined }));
    expect(r.code).not.toBe(0);
    const envLine = line(r, 'environment settings are valid');
    expect(envLine.line).toMatch(/^✗/);
    expect(envLine.fix).toContain('SLACK_APP_TOKEN is not set');
    const policyLine = line(r, `policy file ${badPolicy} is valid`);
    expect(policyLine.line).toMatch(/^✗/);
    expect(policyLine.fix).toMatch(/:\d+: unknown key "colour"/);
    expect(line(r, 'Slack bot token').line).toMatch(/^✓/);
    expect(line(r, 'Identity Center and permission sets').line).toMatch(/^– .*the policy file is not valid/);
    expect(line(r, 'DynamoDB table').line).toMatch(/^✓/);
  });

  it("keeps its built-in copy of the manifest's scopes equal to manifest.yml", () => {
    expect([...MANIFEST_BOT_SCOPES]).toEqual(MANIFEST);
  });
});
