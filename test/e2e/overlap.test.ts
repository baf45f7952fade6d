import { afterEach, describe, expect, it } from 'vitest';
import { ACCOUNT, AUDIT, PEOPLE, PERMISSION_SET, startHarness, type Harness } from '../support/harness.ts';

let h: Harness | null = null;
afterEach(async () => {
  await h?.stop();
  h = null;
});

const grantFor = (x: Harness, user: string, duration: string) => x.granted(user, { duration });

const held = (x: Harness, principal: string) => x.ic.assignments().some((a) => a.principalId === principal && a.permissionSetArn === PERMISSION_SET && a.accountId === ACCOUNT);

describe('access the bot did not give, or still gives through another grant', () => {
  it('keeps the assignment while an overlapping grant still covers it', async () => {
    // A minute, not seconds: the clock also runs, and on a busy machine seconds ran out before the second grant (two creations).
    h = await startHarness({ durations: ['PT1M', 'PT1H'] });
    const x = h;
    const short = await grantFor(x, PEOPLE.requester.slack, 'PT1M');
    const long = await grantFor(x, PEOPLE.requester.slack, 'PT1H');
    expect(x.ic.callsTo('CreateAccountAssignment').filter((c) => c.status === 200)).toHaveLength(1);
    x.clock.advance(60_000);
    const first = await x.waitForStatus(short, 'REVOKED', 15_000);
    expect(first.revoke?.kept).toContain(long);
    expect(held(x, PEOPLE.requester.principal)).toBe(true);
    expect(x.ic.callsTo('DeleteAccountAssignment')).toHaveLength(0);
    await x.click(PEOPLE.requester.slack, 'end_access', long);
    const second = await x.waitForStatus(long, 'REVOKED');
    expect(second.revoke?.kept).toBeNull();
    expect(held(x, PEOPLE.requester.principal)).toBe(false);
    await x.settle();
    expect(JSON.stringify(x.slack.messages(AUDIT))).toContain('the assignment stays because');
  });

  it('never removes an assignment the user held before the grant', async () => {
    h = await startHarness({ durations: ['PT2S', 'PT1H'] });
    const x = h;
    x.ic.addAssignment({ accountId: ACCOUNT, permissionSetArn: PERMISSION_SET, principalId: PEOPLE.requester.principal });
    const id = await grantFor(x, PEOPLE.requester.slack, 'PT2S');
    expect(x.ic.callsTo('CreateAccountAssignment')).toHaveLength(0);
    expect((await x.get(id)).grant.alreadyHeld).toContain('before breakglass granted it');
    x.clock.advance(2_000);
    const done = await x.waitForStatus(id, 'REVOKED', 15_000);
    expect(done.revoke?.kept).toContain('before breakglass granted it');
    expect(x.ic.callsTo('DeleteAccountAssignment')).toHaveLength(0);
    expect(held(x, PEOPLE.requester.principal)).toBe(true);
  });

  it('never removes standing access the policy lists', async () => {
    h = await startHarness({
      durations: ['PT2S', 'PT1H'],
      standingAccess: `standingAccess:\n  - { profile: org-admin, email: ${PEOPLE.second.email} }`,
    });
    const x = h;
    x.ic.addAssignment({ accountId: ACCOUNT, permissionSetArn: PERMISSION_SET, principalId: PEOPLE.second.principal });
    const id = await grantFor(x, PEOPLE.second.slack, 'PT2S');
    x.clock.advance(2_000);
    const done = await x.waitForStatus(id, 'REVOKED', 15_000);
    expect(done.revoke?.kept).toContain('standing access');
    expect(x.ic.callsTo('DeleteAccountAssignment')).toHaveLength(0);
  });

  it('creates, and removes again, standing access the policy lists but Identity Center does not have', async () => {
    h = await startHarness({
      durations: ['PT2S', 'PT1H'],
      standingAccess: `standingAccess:\n  - { profile: org-admin, email: ${PEOPLE.second.email} }`,
    });
    const x = h;
    const id = await grantFor(x, PEOPLE.second.slack, 'PT2S');
    expect(x.ic.callsTo('CreateAccountAssignment').filter((c) => c.status === 200)).toHaveLength(1);
    x.clock.advance(2_000);
    const done = await x.waitForStatus(id, 'REVOKED', 15_000);
    expect(done.revoke?.kept).toBeNull();
    expect(held(x, PEOPLE.second.principal)).toBe(false);
  });

  it('grants for real once access held before is gone, and removes it on revoke', async () => {
    h = await startHarness({ durations: ['PT2S', 'PT1H'] });
    const x = h;
    x.ic.addAssignment({ accountId: ACCOUNT, permissionSetArn: PERMISSION_SET, principalId: PEOPLE.requester.principal });
    const first = await grantFor(x, PEOPLE.requester.slack, 'PT2S');
    x.clock.advance(2_000);
    expect((await x.waitForStatus(first, 'REVOKED', 15_000)).revoke?.kept).toContain('before breakglass granted it');
    x.ic.removeAssignment({ accountId: ACCOUNT, permissionSetArn: PERMISSION_SET, principalId: PEOPLE.requester.principal });
    const second = await grantFor(x, PEOPLE.requester.slack, 'PT2S');
    expect(held(x, PEOPLE.requester.principal)).toBe(true);
    expect((await x.get(second)).grant.alreadyHeld).toBeNull();
    x.clock.advance(2_000);
    const done = await x.waitForStatus(second, 'REVOKED', 15_000);
    expect(done.revoke?.kept).toBeNull();
    expect(held(x, PEOPLE.requester.principal)).toBe(false);
  });
});

describe('time limits and failures', () => {
  it('expires requests nobody decides', async () => {
    h = await startHarness({ pendingTimeout: 'PT2S' });
    const x = h;
    const { requestId } = await x.request(PEOPLE.requester.slack);
    const id = requestId ?? '';
    x.clock.advance(2_000);
    await x.waitForStatus(id, 'EXPIRED', 10_000);
    await x.click(PEOPLE.approver1.slack, 'approve', id);
    await x.settle();
    expect((await x.get(id)).approvals).toEqual([]);
    await x.slack.waitFor(() => x.slack.dmsTo(PEOPLE.requester.slack).find((m) => (m.text ?? '').includes('expired')));
    expect(x.ic.callsTo('CreateAccountAssignment')).toHaveLength(0);
  });

  it('fails a grant Identity Center reports FAILED and tells the requester why', async () => {
    h = await startHarness();
    const x = h;
    x.ic.failNextCreations(1, 'Received a 403 status error: Access denied by IAM');
    const { requestId } = await x.request(PEOPLE.requester.slack);
    const id = requestId ?? '';
    await x.slack.waitFor(() => x.approvalMessage(id));
    await x.click(PEOPLE.approver1.slack, 'approve', id);
    await x.click(PEOPLE.approver2.slack, 'approve', id);
    const failed = await x.waitForStatus(id, 'FAILED');
    expect(failed.grant.failure).toContain('Access denied by IAM');
    await x.slack.waitFor(() => x.slack.dmsTo(PEOPLE.requester.slack).find((m) => (m.text ?? '').includes('could not be granted') && (m.text ?? '').includes('Access denied by IAM')));
    await x.settle();
    expect(JSON.stringify(x.slack.messages(AUDIT))).toContain('Grant failed');
    expect(x.ic.assignments()).toHaveLength(0);
  });

  it('keeps retrying a failing revoke, shouting, until Identity Center confirms', async () => {
    h = await startHarness({ durations: ['PT2S', 'PT1H'], timing: { revokeBackoffBaseMs: 200, revokeBackoffCapMs: 800, shoutAfterAttempts: 3 } });
    const x = h;
    x.ic.failNextDeletions(4, 'Received a 500 status error: internal');
    const id = await grantFor(x, PEOPLE.requester.slack, 'PT2S');
    x.clock.advance(2_000);
    const done = await x.waitForStatus(id, 'REVOKED', 30_000);
    expect(done.revoke?.attempts).toBe(4);
    expect(x.ic.callsTo('DeleteAccountAssignment').filter((c) => c.status === 200)).toHaveLength(5);
    expect(x.ic.assignments()).toHaveLength(0);
    await x.settle();
    const topLevel = x.slack.messages(AUDIT).filter((m) => !m.threadTs && (m.text ?? '').includes('keeps failing'));
    expect(topLevel.length).toBeGreaterThanOrEqual(2);
    const logged = x.logs.filter((l) => l.includes('"event":"revoke.failed"') || l.includes('"event":"revoke.retrying"'));
    expect(logged.length).toBeGreaterThanOrEqual(4);
  });
});
