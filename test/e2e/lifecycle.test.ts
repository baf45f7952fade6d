import { DateTime } from 'luxon';
import { afterEach, describe, expect, it } from 'vitest';
import { ACCOUNT, APPROVALS, AUDIT, INSTANCE_ARN, PEOPLE, PERMISSION_SET, startHarness, type Harness } from '../support/harness.ts';

let h: Harness | null = null;
afterEach(async () => {
  await h?.stop();
  h = null;
});

const creations = (x: Harness) => x.ic.callsTo('CreateAccountAssignment').filter((c) => c.status === 200);
const deletions = (x: Harness) => x.ic.callsTo('DeleteAccountAssignment').filter((c) => c.status === 200);

describe('request → 2-of-M approval → grant → on-time revoke', () => {
  it('grants after the second distinct approval, not before, and revokes on expiry', async () => {
    h = await startHarness({ approvals: 2, durations: ['PT20S', 'PT1H'] });
    const x = h;
    const opened = await x.driver.slashCommand(PEOPLE.requester.slack, '');
    expect(opened.status).toBe(200);
    const view = await x.slack.waitFor(() => x.slack.views().find((v) => v.view?.callback_id === 'breakglass_request'));
    expect(view.view.blocks.map((b: { block_id?: string }) => b.block_id)).toEqual(expect.arrayContaining(['profile', 'duration', 'justification', 'ticket']));

    const { body, requestId } = await x.request(PEOPLE.requester.slack, { duration: 'PT20S' });
    expect(body).toBeUndefined();
    expect(requestId).toMatch(/^req_/);
    const id = requestId ?? '';
    const message = await x.slack.waitFor(() => x.approvalMessage(id));
    const text = JSON.stringify(message.blocks);
    expect(text).toContain(`<@${PEOPLE.requester.slack}>`);
    expect(text).toContain(ACCOUNT);
    expect(text).toContain('20 seconds');
    expect(text).toContain('"action_id":"approve"');
    expect(text).toContain('"action_id":"deny"');

    await x.click(PEOPLE.approver1.slack, 'approve', id);
    await x.slack.waitFor(() => JSON.stringify(x.approvalMessage(id)?.blocks).includes('1 of 2 approvals'));
    await x.settle();
    expect(creations(x)).toHaveLength(0);
    expect((await x.get(id)).status).toBe('PENDING');

    await x.click(PEOPLE.approver3.slack, 'approve', id); // eligible through the approvers user group
    const active = await x.waitForStatus(id, 'ACTIVE');
    expect(creations(x)).toHaveLength(1);
    expect(creations(x)[0]?.input).toMatchObject({
      InstanceArn: INSTANCE_ARN,
      TargetId: ACCOUNT,
      TargetType: 'AWS_ACCOUNT',
      PermissionSetArn: PERMISSION_SET,
      PrincipalType: 'USER',
      PrincipalId: PEOPLE.requester.principal,
    });
    expect(x.ic.assignments()).toHaveLength(1);
    const grantedAt = Date.parse(active.grant.grantedAt ?? '');
    expect(Date.parse(active.grant.expiresAt ?? '') - grantedAt).toBe(20_000);

    const dm = await x.slack.waitFor(() => x.slack.dmsTo(PEOPLE.requester.slack).find((m) => JSON.stringify(m.blocks).includes('end_access')));
    const dmText = JSON.stringify(dm.blocks);
    // The requester's own zone, in whatever abbreviation it has at that instant (EST or EDT), then UTC.
    const zone = DateTime.fromISO(active.grant.expiresAt ?? '', { zone: PEOPLE.requester.tz }).offsetNameShort ?? '';
    expect(zone).toMatch(/^E[SD]T$/);
    expect(dmText).toContain(zone);
    expect(dmText).toContain('UTC');
    expect(dmText).toContain('https://d-0123456789.awsapps.com/start');

    // Twenty seconds pass for the bot (its sweeper still ticks in real time).
    x.clock.advance(20_000);
    const revoked = await x.waitForStatus(id, 'REVOKED', 15_000);
    expect(deletions(x)).toHaveLength(1);
    expect(Date.parse(revoked.revoke?.startedAt ?? '') - Date.parse(active.grant.expiresAt ?? '')).toBeLessThan(5000);
    expect(x.ic.assignments()).toHaveLength(0);
    expect(creations(x)).toHaveLength(1);

    await x.settle();
    const parent = x.slack.messages(AUDIT).find((m) => !m.threadTs && JSON.stringify(m.blocks).includes(id));
    expect(parent).toBeDefined();
    const replies = x.slack.thread(AUDIT, parent?.ts ?? '').map((m) => m.text ?? '');
    const expectedOrder = ['requested', 'approved (1 of 2)', 'approved (2 of 2)', 'Quorum reached', 'Granting access', 'Access granted', 'Removing access', 'Access removed'];
    let at = -1;
    for (const fragment of expectedOrder) {
      const idx = replies.findIndex((r, i) => i > at && r.includes(fragment));
      expect(idx, `audit reply "${fragment}" in order: ${replies.join(' | ')}`).toBeGreaterThan(at);
      at = idx;
    }
    expect(JSON.stringify(parent?.blocks)).toContain('Access ended');
    expect(JSON.stringify(x.approvalMessage(id)?.blocks)).not.toContain('"action_id":"approve"');
    expect(x.slack.messages(APPROVALS).filter((m) => !m.threadTs)).toHaveLength(1);
    const events = x.logs.map((l) => JSON.parse(l) as { event?: string; seq?: number }).filter((l) => typeof l.seq === 'number').map((l) => l.event);
    expect(events).toEqual(expect.arrayContaining(['request.submitted', 'approval.given', 'request.approved', 'grant.started', 'grant.succeeded', 'revoke.started', 'revoke.succeeded']));
    for (const line of x.logs) expect(line).not.toContain('xoxb-');
  });
});

describe('Socket Mode', () => {
  it('runs the same lifecycle over a Socket Mode connection and serves /healthz', async () => {
    h = await startHarness({ transport: 'socket', durations: ['PT2S'] });
    const x = h;
    const health = await fetch(`http://127.0.0.1:${x.bot.port()}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ ok: true, mode: 'socket' });
    const { requestId } = await x.request(PEOPLE.requester.slack, { duration: 'PT2S' });
    const id = requestId ?? '';
    await x.slack.waitFor(() => x.approvalMessage(id));
    await x.click(PEOPLE.approver1.slack, 'approve', id);
    await x.click(PEOPLE.approver2.slack, 'approve', id);
    await x.waitForStatus(id, 'ACTIVE');
    await x.waitForStatus(id, 'REVOKED', 15_000);
    expect(creations(x)).toHaveLength(1);
    expect(deletions(x)).toHaveLength(1);
    expect(x.slack.socketMode.acks.length).toBeGreaterThanOrEqual(4);
  });
});
