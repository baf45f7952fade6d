/**
 * The session activity report: classifying CloudTrail events and building the report (pure), and
 * the service that reads it after a grant ends (in-memory ports, virtual clock).
 */
import { describe, expect, it } from 'vitest';
import { buildReport, completenessLine, isSessionOf, markOf, MAX_STORED_WRITES, type TrailEvent } from '../../src/domain/activity.ts';
import { advance } from '../../src/services/advance.ts';
import { approve } from '../../src/services/approve.ts';
import { endAccess } from '../../src/services/end-access.ts';
import { grant } from '../../src/services/grant.ts';
import { continueRevoke } from '../../src/services/revoke.ts';
import { windowOf } from '../../src/services/activity-report.ts';
import { liveRequests } from '../../src/services/status.ts';
import { submitRequest } from '../../src/services/submit-request.ts';
import { activityReportMessage } from '../../src/slack/blocks/activity.ts';
import { awsError, ACCOUNT, memoryContext, PEOPLE, type MemoryWorld } from '../support/memory.ts';

const SESSION_ARN = (user = 'rita', ps = 'OrgAdmin', account = ACCOUNT) => `arn:aws:sts::${account}:assumed-role/AWSReservedSSO_${ps}_0123456789abcdef/${user}`;

let seq = 0;
const ev = (over: Partial<TrailEvent> & Pick<TrailEvent, 'source' | 'name' | 'time'>): TrailEvent => ({
  eventId: `e${++seq}`,
  region: 'us-east-1',
  readOnly: false,
  errorCode: null,
  principalArn: SESSION_ARN(),
  ...over,
});

const WINDOW = { start: '2026-12-01T09:00:00.000Z', end: '2026-12-01T10:00:00.000Z', endsAt: 'removal' as const };

describe('classifying calls', () => {
  it('marks Organizations, billing and Identity Center writes as expected, by category', () => {
    expect(markOf({ source: 'organizations.amazonaws.com', name: 'CreateAccount', readOnly: false })).toEqual({ kind: 'expected', category: 'account-lifecycle' });
    expect(markOf({ source: 'organizations.amazonaws.com', name: 'AttachPolicy', readOnly: false })).toEqual({ kind: 'expected', category: 'organization-structure' });
    expect(markOf({ source: 'organizations.amazonaws.com', name: 'RegisterDelegatedAdministrator', readOnly: false })).toEqual({ kind: 'expected', category: 'delegated-administration' });
    expect(markOf({ source: 'guardduty.amazonaws.com', name: 'EnableOrganizationAdminAccount', readOnly: false })).toEqual({ kind: 'expected', category: 'delegated-administration' });
    expect(markOf({ source: 'account.amazonaws.com', name: 'PutAlternateContact', readOnly: false })).toEqual({ kind: 'expected', category: 'billing' });
    expect(markOf({ source: 'sso.amazonaws.com', name: 'CreatePermissionSet', readOnly: false })).toEqual({ kind: 'expected', category: 'identity-center' });
  });

  it('flags workload calls, also with the API version in the event name, and ignores reads', () => {
    expect(markOf({ source: 'ec2.amazonaws.com', name: 'RunInstances', readOnly: false })).toEqual({ kind: 'flagged' });
    expect(markOf({ source: 'lambda.amazonaws.com', name: 'CreateFunction20150331', readOnly: false })).toEqual({ kind: 'flagged' });
    expect(markOf({ source: 's3.amazonaws.com', name: 'CreateBucket', readOnly: false })).toEqual({ kind: 'flagged' });
    expect(markOf({ source: 'ec2.amazonaws.com', name: 'DescribeInstances', readOnly: true })).toBeNull();
    expect(markOf({ source: 'iam.amazonaws.com', name: 'PutRolePolicy', readOnly: false })).toBeNull();
  });

  it("recognises the user's Identity Center session of the permission set in the account only", () => {
    expect(isSessionOf(SESSION_ARN(), ACCOUNT, 'OrgAdmin', 'rita')).toBe(true);
    expect(isSessionOf(SESSION_ARN('rita', 'ReadOnly'), ACCOUNT, 'OrgAdmin', 'rita')).toBe(false);
    expect(isSessionOf(SESSION_ARN('rita', 'OrgAdmin', '222222222222'), ACCOUNT, 'OrgAdmin', 'rita')).toBe(false);
    expect(isSessionOf(`arn:aws:sts::${ACCOUNT}:assumed-role/deploy/rita`, ACCOUNT, 'OrgAdmin', 'rita')).toBe(false);
    expect(isSessionOf(SESSION_ARN('rita.b'), ACCOUNT, 'OrgAdmin', 'rita')).toBe(false);
    expect(isSessionOf(null, ACCOUNT, 'OrgAdmin', 'rita')).toBe(false);
  });
});

describe('building the report', () => {
  const events = [
    ev({ source: 'organizations.amazonaws.com', name: 'CreateAccount', time: '2026-12-01T09:10:00.000Z' }),
    ev({ source: 'ec2.amazonaws.com', name: 'RunInstances', time: '2026-12-01T09:20:00.000Z', region: 'eu-west-1' }),
    ev({ source: 'ec2.amazonaws.com', name: 'DescribeInstances', time: '2026-12-01T09:19:00.000Z', region: 'eu-west-1', readOnly: true }),
    ev({ source: 'organizations.amazonaws.com', name: 'CloseAccount', time: '2026-12-01T09:30:00.000Z', errorCode: 'AccessDeniedException' }),
    ev({ source: 'sts.amazonaws.com', name: 'GetCallerIdentity', time: '2026-12-01T11:00:00.000Z', readOnly: true }),
  ];

  it('counts by service, lists writes oldest first with their marks, and compares with the category', () => {
    const r = buildReport({ window: WINDOW, regions: ['us-east-1', 'eu-west-1'], failed: [], readAt: '2026-12-01T10:20:00.000Z', events, category: 'account-lifecycle' });
    expect(r.calls).toBe(4); // the 11:00 call is outside the window
    expect(r.byService).toEqual([
      { service: 'ec2', calls: 2, writes: 1 },
      { service: 'organizations', calls: 2, writes: 2 },
    ]);
    expect(r.writes.map((w) => [w.name, w.mark, w.errorCode])).toEqual([
      ['CreateAccount', 'expected', null],
      ['RunInstances', 'flagged', null],
      ['CloseAccount', 'expected', 'AccessDeniedException'],
    ]);
    expect(r.expected).toBe(2);
    expect(r.flagged).toEqual(['RunInstances']);
    expect(r.category).toEqual({ outcome: 'not-matched', given: 'account-lifecycle', found: ['account-lifecycle'], workloads: true });
    expect(r.complete).toBe(true);
    expect(completenessLine(r)).toBe('complete');
  });

  it('matches when every change belongs to the category, and says when none was given or nothing was changed', () => {
    const only = events.filter((e) => e.source !== 'ec2.amazonaws.com');
    const base = { window: WINDOW, regions: ['us-east-1'], failed: [], readAt: '2026-12-01T10:20:00.000Z', events: only };
    expect(buildReport({ ...base, category: 'account-lifecycle' }).category).toEqual({ outcome: 'matched', given: 'account-lifecycle' });
    expect(buildReport({ ...base, category: null }).category).toEqual({ outcome: 'no-category' });
    expect(buildReport({ ...base, category: 'incident-response' }).category.outcome).toBe('not-compared');
    expect(buildReport({ ...base, events: [], category: 'billing' }).category).toEqual({ outcome: 'no-writes', given: 'billing' });
    // A failed call changed nothing: CloseAccount denied does not count as account lifecycle work.
    expect(buildReport({ ...base, events: only.filter((e) => e.name === 'CloseAccount'), category: 'billing' }).category).toEqual({ outcome: 'no-writes', given: 'billing' });
  });

  it('is incomplete when a Region failed or it was read before CloudTrail delivered everything', () => {
    const failed = buildReport({ window: WINDOW, regions: ['us-east-1', 'eu-west-1'], failed: [{ region: 'eu-west-1', error: 'AccessDeniedException: not authorized' }], readAt: '2026-12-01T10:20:00.000Z', events, category: null });
    expect(failed.complete).toBe(false);
    expect(completenessLine(failed)).toContain('1 of 2 Regions read (50%); could not read eu-west-1 (AccessDeniedException: not authorized)');
    const early = buildReport({ window: WINDOW, regions: ['us-east-1'], failed: [], readAt: '2026-12-01T10:02:00.000Z', events, category: null });
    expect(early.complete).toBe(false);
    expect(completenessLine(early)).toContain('read 2 minutes after the window ended');
  });

  it('keeps at most MAX_STORED_WRITES writes and counts the rest; the message stays within Slack limits', () => {
    const many = Array.from({ length: MAX_STORED_WRITES + 25 }, (_, i) => ev({ source: 'ec2.amazonaws.com', name: 'RunInstances', time: new Date(Date.parse(WINDOW.start) + i * 1000).toISOString() }));
    const r = buildReport({ window: WINDOW, regions: ['us-east-1'], failed: [], readAt: '2026-12-01T10:20:00.000Z', events: many, category: null });
    expect(r.writes).toHaveLength(MAX_STORED_WRITES);
    expect(r.omittedWrites).toBe(25);
    const msg = activityReportMessage({ id: 'req_1', profileName: 'Org admin' } as Parameters<typeof activityReportMessage>[0], r, 'ab'.repeat(32), { forRequester: false });
    expect(msg.blocks.length).toBeLessThanOrEqual(50);
    for (const b of msg.blocks) if (b.type === 'section') expect(b.text?.text.length ?? 0).toBeLessThanOrEqual(3000);
    expect(JSON.stringify(msg.blocks)).toMatch(/and \d+ more write calls not shown/);
  });
});

describe('reporting after a grant ends', () => {
  async function revoked(w: MemoryWorld, category: 'account-lifecycle' | null = 'account-lifecycle'): Promise<string> {
    const s = await submitRequest(w.ctx, PEOPLE.requester.slack, { profileId: 'org-admin', duration: 'PT1H', justification: 'Create the new sandbox account', ticket: null, category });
    if (!s.ok) throw new Error('refused');
    const id = s.request.id;
    await approve(w.ctx, id, PEOPLE.approver1.slack);
    await approve(w.ctx, id, PEOPLE.approver2.slack);
    await grant(w.ctx, id);
    w.clock.advance(60_000);
    const at = w.clock.now();
    w.trail.add({ ...ev({ source: 'organizations.amazonaws.com', name: 'CreateAccount', time: at }), username: 'rita' });
    w.trail.add({ ...ev({ source: 'ec2.amazonaws.com', name: 'RunInstances', time: at }), username: 'rita' });
    // Same session name, another role: not this grant's session.
    w.trail.add({ ...ev({ source: 'ec2.amazonaws.com', name: 'TerminateInstances', time: at, principalArn: `arn:aws:sts::${ACCOUNT}:assumed-role/ci/rita` }), username: 'rita' });
    expect((await endAccess(w.ctx, id, PEOPLE.requester.slack)).ok).toBe(true);
    for (let i = 0; i < 20 && (await w.get(id)).status !== 'REVOKED'; i++) {
      const due = w.store.dueAt(id);
      if (due && due > w.clock.now()) w.clock.advanceTo(due);
      await continueRevoke(w.ctx, id);
    }
    expect((await w.get(id)).status).toBe('REVOKED');
    return id;
  }

  it('is due the delay after the end, reads nothing before, and then records the report with its digest', async () => {
    const w = memoryContext({ policy: { activityReport: { enabled: true, delay: 'PT20M', regions: ['us-east-1'] } } });
    const id = await revoked(w);
    const ended = await w.get(id);
    expect(ended.activity?.state).toBe('waiting');
    expect(w.store.dueAt(id)).toBe(new Date(Date.parse(ended.updatedAt) + 20 * 60_000).toISOString());
    expect((await liveRequests(w.ctx)).map((r) => r.id)).not.toContain(id);

    await advance(w.ctx, id);
    expect(w.trail.calls).toHaveLength(0);

    w.clock.advanceTo(w.store.dueAt(id) ?? '');
    await advance(w.ctx, id);
    const r = await w.get(id);
    expect(r.activity?.state).toBe('reported');
    expect(r.activity?.report?.writes.map((x) => [x.name, x.mark])).toEqual([
      ['CreateAccount', 'expected'],
      ['RunInstances', 'flagged'],
    ]);
    expect(r.activity?.digest).toMatch(/^[0-9a-f]{64}$/);
    expect(w.store.dueAt(id)).toBeNull();
    const reported = w.store.events(id).find((e) => e.type === 'activity.reported');
    expect(reported?.details).toMatchObject({ calls: 2, writes: 2, expected: 1, flagged: 1, flaggedNames: ['RunInstances'], category: 'not-matched', digest: r.activity?.digest, failedRegions: [] });
    expect(w.trail.calls[0]).toMatchObject({ region: 'us-east-1', userName: 'rita', start: r.grant.creationAttemptedAt, end: r.revoke?.doneAt });
    expect(r.activity?.report?.window).toEqual({ start: r.grant.creationAttemptedAt, end: r.revoke?.doneAt, endsAt: 'removal' });
  });

  it('retries a failed read with backoff, then reports what could not be read', async () => {
    const w = memoryContext({ policy: { activityReport: { enabled: true, delay: 'PT20M', regions: ['us-east-1', 'eu-west-1'] } }, timing: { activityAttempts: 3 } });
    const id = await revoked(w, null);
    w.trail.failNext('eu-west-1', 3, () => awsError('AccessDeniedException', 'User is not authorized to perform: cloudtrail:LookupEvents'));
    w.clock.advanceTo(w.store.dueAt(id) ?? '');
    await advance(w.ctx, id);
    expect((await w.get(id)).activity).toMatchObject({ state: 'waiting', attempts: 1 });
    expect(w.store.events(id).some((e) => e.type === 'activity.reported')).toBe(false);
    const retryAt = w.store.dueAt(id) ?? '';
    expect(retryAt > w.clock.now()).toBe(true);
    for (let i = 0; i < 2; i++) {
      w.clock.advanceTo(w.store.dueAt(id) ?? '');
      await advance(w.ctx, id);
    }
    const r = await w.get(id);
    expect(r.activity?.state).toBe('reported');
    expect(r.activity?.report?.failed).toEqual([{ region: 'eu-west-1', error: expect.stringContaining('AccessDenied') as unknown }]);
    expect(r.activity?.report?.complete).toBe(false);
    expect(r.activity?.report?.writes.map((x) => x.name)).toEqual(['CreateAccount', 'RunInstances']);
  });

  it('runs the window to the sessions\' own expiry when they were not ended with the assignment', async () => {
    const w = memoryContext();
    w.ic.sessionDurations.set(w.target().permissionSetArn, 'PT2H');
    const r = await w.plant('req_kept', 'REVOKED', {
      grant: { startedAt: null, creationAttemptedAt: '2026-12-01T09:00:00.000Z', creationSlot: null, creationRequestId: null, grantedAt: '2026-12-01T09:00:05.000Z', expiresAt: null, alreadyHeld: null, failure: null, cleanupPending: false, attempts: 0 },
      revoke: { reason: 'expired', by: null, startedAt: '2026-12-01T10:00:00.000Z', deletionRequestId: null, attempts: 0, lastError: null, kept: null, doneAt: '2026-12-01T10:00:30.000Z', removedAt: '2026-12-01T10:00:10.000Z', sessions: { state: 'lapsed', instant: null, why: 'x', attempts: 3 } },
    });
    expect(await windowOf(w.ctx, r)).toEqual({ start: '2026-12-01T09:00:00.000Z', end: '2026-12-01T12:00:10.000Z', endsAt: 'session-expiry' });
  });

  it('asks for no report when reports are off', async () => {
    const w = memoryContext({ policy: { activityReport: { enabled: false, delay: 'PT20M', regions: ['us-east-1'] } } });
    const id = await revoked(w);
    expect((await w.get(id)).activity ?? null).toBeNull();
    expect(w.store.dueAt(id)).toBeNull();
  });
});
