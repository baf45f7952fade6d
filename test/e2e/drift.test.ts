import { checkDrift } from '../../src/services/drift.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { ACCOUNT, AUDIT, PEOPLE, PERMISSION_SET, startHarness, type Harness } from '../support/harness.ts';

let h: Harness | null = null;
afterEach(async () => {
  await h?.stop();
  h = null;
});

/** Alerts posted for drift, open (with a Revoke button) or since closed (struck through). */
const driftAlerts = (x: Harness) => x.slack.messages(AUDIT).filter((m) => !m.threadTs && /^(:warning: Drift|~Drift~)/.test(m.text ?? ''));

describe('drift detection', () => {
  it('raises one alert for hand-made access, however many passes follow, and lets an approver revoke it', async () => {
    h = await startHarness({ driftSeconds: 1, standingAccess: `standingAccess:\n  - { profile: org-admin, userId: ${PEOPLE.requester.principal} }` });
    const x = h;
    x.ic.addAssignment({ accountId: ACCOUNT, permissionSetArn: PERMISSION_SET, principalId: PEOPLE.requester.principal });
    x.ic.addAssignment({ accountId: ACCOUNT, permissionSetArn: PERMISSION_SET, principalId: PEOPLE.second.principal });
    const alert = await x.slack.waitFor(() => driftAlerts(x)[0], 5000);
    expect(alert.text).toContain(PEOPLE.second.principal);
    for (let i = 0; i < 3; i++) await x.bot.drift.pass();
    await x.settle();
    expect(driftAlerts(x)).toHaveLength(1);
    expect(JSON.stringify(driftAlerts(x))).not.toContain(PEOPLE.requester.principal);

    const driftId = /"value":"([^"]+)"/.exec(JSON.stringify(alert.blocks))?.[1] ?? '';
    await x.driver.blockAction(PEOPLE.outsider.slack, { actionId: 'drift_revoke', value: driftId, message: { channel: alert.channel, ts: alert.ts } });
    await x.slack.waitFor(() => x.slack.ephemerals().find((e) => e.user === PEOPLE.outsider.slack && (e.text ?? '').includes('Only breakglass approvers')));
    expect(x.ic.assignments().some((a) => a.principalId === PEOPLE.second.principal)).toBe(true);

    await x.driver.blockAction(PEOPLE.approver2.slack, { actionId: 'drift_revoke', value: driftId, message: { channel: alert.channel, ts: alert.ts } });
    await x.slack.waitFor(() => x.slack.ephemerals().find((e) => e.user === PEOPLE.approver2.slack && (e.text ?? '').includes('Removed')), 5000);
    expect(x.ic.assignments().map((a) => a.principalId)).toEqual([PEOPLE.requester.principal]);
    await x.settle();
    expect(JSON.stringify(x.slack.messages(AUDIT))).toContain('removed by <@UAPPROVER2>');
    const updated = x.slack.messages(AUDIT).find((m) => m.ts === alert.ts);
    expect(JSON.stringify(updated?.blocks)).not.toContain('drift_revoke');

    // The same access made by hand again is a new drift, raised again once.
    x.ic.addAssignment({ accountId: ACCOUNT, permissionSetArn: PERMISSION_SET, principalId: PEOPLE.second.principal });
    await x.bot.drift.pass();
    await x.bot.drift.pass();
    await x.settle();
    expect(driftAlerts(x)).toHaveLength(2);
  });

  it('never alerts on access a breakglass grant backs', async () => {
    h = await startHarness({ driftSeconds: 1, durations: ['PT1H'] });
    const x = h;
    const { requestId } = await x.request(PEOPLE.requester.slack, { duration: 'PT1H' });
    const id = requestId ?? '';
    await x.slack.waitFor(() => x.approvalMessage(id), 5000);
    await x.click(PEOPLE.approver1.slack, 'approve', id);
    await x.click(PEOPLE.approver2.slack, 'approve', id);
    await x.waitForStatus(id, 'ACTIVE');
    // A pass the timer started earlier may have listed already: let it finish before counting.
    await x.bot.drift.pass();
    const listed = x.ic.callsTo('ListAccountAssignments').filter((c) => c.status === 200).length;
    for (let i = 0; i < 3; i++) await x.bot.drift.pass();
    await x.settle();
    // The passes did look at the assignment (and found the grant behind it).
    expect(x.ic.callsTo('ListAccountAssignments').filter((c) => c.status === 200).length).toBeGreaterThanOrEqual(listed + 3);
    expect(driftAlerts(x)).toHaveLength(0);
  });

  it('removes unlisted access by itself with drift: revoke', async () => {
    h = await startHarness({ driftSeconds: 1, drift: 'revoke' });
    const x = h;
    x.ic.addAssignment({ accountId: ACCOUNT, permissionSetArn: PERMISSION_SET, principalId: PEOPLE.second.principal });
    await x.bot.drift.pass();
    expect(x.ic.assignments()).toHaveLength(0);
    await x.settle();
    const alert = driftAlerts(x)[0];
    expect(alert?.updates.map((u) => u.text)).toEqual([expect.stringContaining('removed by breakglass')]);
    expect(JSON.stringify(x.slack.callsTo('chat.postMessage').map((c) => c.args.text))).toContain('Removing it (policy: drift: revoke)');
    expect(JSON.stringify(x.slack.messages(AUDIT))).toContain('removed by breakglass; Identity Center confirmed the deletion');
  });

  it('closes an alert whose access went away by itself', async () => {
    h = await startHarness({ driftSeconds: 300 });
    const x = h;
    await x.bot.drift.pass();
    x.ic.addAssignment({ accountId: ACCOUNT, permissionSetArn: PERMISSION_SET, principalId: PEOPLE.second.principal });
    await x.bot.drift.pass();
    x.ic.removeAssignment({ accountId: ACCOUNT, permissionSetArn: PERMISSION_SET, principalId: PEOPLE.second.principal });
    // The pass itself says whether it closed the alert (a failure here is the pass, not the delivery).
    expect(await checkDrift(x.bot.ctx)).toEqual({ raised: 0, revoked: 0, resolved: 1 });
    await x.settle();
    expect(JSON.stringify(x.slack.messages(AUDIT))).toContain('resolved: the assignment is gone');
    expect(driftAlerts(x)[0]?.updates).toHaveLength(1);
  });
});
