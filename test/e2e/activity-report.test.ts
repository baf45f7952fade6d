/**
 * After a grant ends, the audit thread gets what its sessions did, read from CloudTrail (the fake,
 * reached through AWS_ENDPOINT_URL_CLOUDTRAIL) once CloudTrail has had time to deliver: expected
 * management-account work marked, workloads flagged, paced under LookupEvents' quota, and never in
 * the way of a revoke.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/audit/chain.ts';
import { identityCenterSessionEvent } from '../support/fake-cloudtrail.ts';
import { ACCOUNT, AUDIT, PEOPLE, eventually, startHarness, type Harness, type HarnessOptions } from '../support/harness.ts';

let h: Harness | null = null;
afterEach(async () => {
  await h?.stop();
  h = null;
});

const DELAY_MS = 20 * 60_000;

async function start(o: HarnessOptions = {}): Promise<Harness> {
  h = await startHarness({ activityReport: { delay: 'PT20M', regions: ['eu-west-1'] }, ...o });
  return h;
}

/** Requests with a reason category and waits for the grant. */
const active = (x: Harness, user: string = PEOPLE.requester.slack) => x.granted(user, { duration: 'PT1H', category: 'account-lifecycle' });

/** One call in an Identity Center session, as CloudTrail records it. */
function call(x: Harness, o: { user?: string; permissionSet?: string; region: string; source: string; name: string; readOnly: boolean; errorCode?: string; at: number }): void {
  x.trail.addEvent({
    region: o.region,
    eventTime: o.at,
    eventName: o.name,
    eventSource: o.source,
    readOnly: o.readOnly,
    ...(o.errorCode ? { errorCode: o.errorCode } : {}),
    cloudTrailEvent: identityCenterSessionEvent({
      accountId: ACCOUNT,
      permissionSetName: o.permissionSet ?? 'OrgAdmin',
      userName: o.user ?? 'rita',
      eventTime: o.at,
      eventName: o.name,
      eventSource: o.source,
      awsRegion: o.region,
      readOnly: o.readOnly,
      ...(o.errorCode ? { errorCode: o.errorCode } : {}),
    }),
  });
}

/** The session's calls, and two that are not this grant's: another user, and the same name in another permission set's role. */
function seed(x: Harness): void {
  const at = x.clock.ms();
  call(x, { region: 'us-east-1', source: 'organizations.amazonaws.com', name: 'ListAccounts', readOnly: true, at: at + 1000 });
  call(x, { region: 'us-east-1', source: 'organizations.amazonaws.com', name: 'CreateAccount', readOnly: false, at: at + 2000 });
  call(x, { region: 'eu-west-1', source: 'ec2.amazonaws.com', name: 'DescribeInstances', readOnly: true, at: at + 3000 });
  call(x, { region: 'eu-west-1', source: 'ec2.amazonaws.com', name: 'RunInstances', readOnly: false, at: at + 4000 });
  call(x, { region: 'eu-west-1', source: 's3.amazonaws.com', name: 'CreateBucket', readOnly: false, errorCode: 'AccessDenied', at: at + 5000 });
  call(x, { user: 'sam', region: 'us-east-1', source: 'organizations.amazonaws.com', name: 'CreateOrganizationalUnit', readOnly: false, at: at + 6000 });
  call(x, { permissionSet: 'ReadOnly', region: 'eu-west-1', source: 'ec2.amazonaws.com', name: 'TerminateInstances', readOnly: false, at: at + 7000 });
}

const reportIn = (x: Harness, threadTs: string) => x.slack.messages(AUDIT).find((m) => m.threadTs === threadTs && (m.text ?? '').startsWith('Session activity report'));
const textOf = (m: { blocks?: unknown[] }) => JSON.stringify(m.blocks ?? []);

/** At most `max` calls to one Region in any second, by the fake's clock. */
function maxPerSecond(x: Harness, region: string): number {
  const at = x.trail.callsTo('LookupEvents', region).map((c) => c.at);
  return Math.max(0, ...at.map((t) => at.filter((u) => u >= t && u < t + 1000).length));
}

describe('session activity report', () => {
  it('marks CreateAccount expected and flags RunInstances, after the delay, with throttling injected; DM, chain digest', async () => {
    const x = await start();
    const id = await active(x);
    seed(x);
    x.clock.advance(60_000);
    await x.click(PEOPLE.requester.slack, 'end_access', id);
    const ended = await x.waitForStatus(id, 'REVOKED', 20_000);
    expect(ended.activity?.state).toBe('waiting');
    const thread = ended.slack.auditThread?.ts ?? (await eventually(async () => (await x.get(id)).slack.auditThread?.ts));

    // Before the delay: nothing read, nothing posted.
    await new Promise((r) => setTimeout(r, 2500));
    await x.settle();
    expect(x.trail.callsTo('LookupEvents')).toHaveLength(0);
    expect(reportIn(x, thread)).toBeUndefined();

    x.trail.setFaults({ throttleRate: 0.4 });
    x.clock.advance(DELAY_MS);
    const posted = await x.slack.waitFor(() => reportIn(x, thread), 30_000);
    const text = textOf(posted);
    expect(text).toContain('*CreateAccount* organizations us-east-1 — expected (account lifecycle)');
    expect(text).toContain('*RunInstances* ec2 eu-west-1 — :rotating_light: *flagged: workload*');
    expect(text).toMatch(/Flagged: 2 calls that create or run workloads[^"]*RunInstances \(ec2, eu-west-1/);
    expect(text).toContain('*CreateBucket* s3 eu-west-1 — error `AccessDenied`');
    expect(text).toContain('ec2 2 (1 write) · organizations 2 (1 write) · s3 1 (1 write)');
    expect(text).toContain('*Completeness:* complete');
    expect(text).toContain('did not match *account lifecycle*: workloads were created');
    expect(text).not.toContain('CreateOrganizationalUnit');
    expect(text).not.toContain('TerminateInstances');

    // Throttled on the way, paced under LookupEvents' 2 calls a second per Region, and both Regions read.
    expect(x.trail.calls.some((c) => c.errorType === 'ThrottlingException')).toBe(true);
    expect(maxPerSecond(x, 'us-east-1')).toBeLessThanOrEqual(2);
    expect(maxPerSecond(x, 'eu-west-1')).toBeLessThanOrEqual(2);
    expect(x.trail.callsTo('LookupEvents').every((c) => JSON.stringify(c.input.LookupAttributes) === JSON.stringify([{ AttributeKey: 'Username', AttributeValue: 'rita' }]))).toBe(true);

    await x.slack.waitFor(() => x.slack.dmsTo(PEOPLE.requester.slack).find((m) => (m.text ?? '').startsWith('Session activity report') && textOf(m).includes('of your breakglass access')), 10_000);

    const r = await x.get(id);
    expect(r.activity?.state).toBe('reported');
    const digest = createHash('sha256').update(canonicalJson(r.activity?.report)).digest('hex');
    expect(r.activity?.digest).toBe(digest);
    const record = await eventually(async () => {
      for await (const c of x.bot.ctx.outbox.chain()) if (c.type === 'activity.reported' && c.requestId === id) return c;
      return undefined;
    });
    expect(record.details).toMatchObject({ digest, calls: 5, writes: 3, expected: 1, flagged: 2, flaggedNames: ['RunInstances', 'CreateBucket'], complete: true, category: 'not-matched', failedRegions: [] });
  }, 60_000);

  it('never delays a revoke while a report reads a slow, throttled CloudTrail', async () => {
    const x = await start();
    const first = await active(x);
    const second = await active(x, PEOPLE.second.slack);
    seed(x);
    x.clock.advance(60_000);
    await x.click(PEOPLE.requester.slack, 'end_access', first);
    await x.waitForStatus(first, 'REVOKED', 20_000);

    x.trail.setFaults({ throttleRate: 0.5, latencyMs: 3000 });
    x.clock.advance(DELAY_MS);
    await eventually(() => x.trail.calls.length > 0, 10_000, () => 'the report to start reading');
    const endedAt = Date.now();
    await x.click(PEOPLE.second.slack, 'end_access', second);
    await x.waitForStatus(second, 'REVOKED', 20_000);
    // The report is still reading (throttled, 3 s a call) while the revoke is done within its usual seconds.
    expect(Date.now() - endedAt).toBeLessThan(10_000);
    expect((await x.get(first)).activity?.state).toBe('waiting');
    await eventually(async () => (await x.get(first)).activity?.state === 'reported', 45_000, () => 'the report');
  }, 90_000);

  it('says what could not be read when CloudTrail refuses access, instead of staying silent', async () => {
    const x = await start({ timing: { activityAttempts: 2, activityRetryBaseMs: 500, activityRetryCapMs: 500 } });
    const id = await active(x);
    seed(x);
    x.clock.advance(60_000);
    await x.click(PEOPLE.requester.slack, 'end_access', id);
    const ended = await x.waitForStatus(id, 'REVOKED', 20_000);
    const thread = ended.slack.auditThread?.ts ?? (await eventually(async () => (await x.get(id)).slack.auditThread?.ts));
    x.trail.setFaults({ accessDenied: true });
    x.clock.advance(DELAY_MS);
    const posted = await x.slack.waitFor(() => reportIn(x, thread), 30_000);
    const text = textOf(posted);
    expect(text).toContain('incomplete: 0 of 2 Regions read (0%); could not read eu-west-1 (AccessDeniedException');
    expect(text).toContain('us-east-1 (AccessDeniedException');
    expect((await x.get(id)).activity).toMatchObject({ state: 'reported', attempts: 2 });
  }, 60_000);
});
