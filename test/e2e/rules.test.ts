import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APPROVALS, AUDIT, PEOPLE, startHarness, type Harness } from '../support/harness.ts';

/** Every negative path: no effect beyond a clear message (and an audit line where someone tried something). */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ approvals: 2, durations: ['PT20S', 'PT1H'], requireTicket: false });
});
afterAll(async () => {
  await h.stop();
});

const creations = () => h.ic.callsTo('CreateAccountAssignment').filter((c) => c.status === 200);
const ephemeralTo = (user: string, fragment: string) =>
  h.slack.waitFor(() => h.slack.ephemerals().find((e) => e.user === user && (e.text ?? '').includes(fragment)));

async function pendingRequest(user: string = PEOPLE.requester.slack): Promise<string> {
  const { requestId } = await h.request(user);
  if (!requestId) throw new Error('request was not stored');
  await h.slack.waitFor(() => h.approvalMessage(requestId));
  return requestId;
}

describe('submission checks', () => {
  it('refuses a duration the profile does not offer, inside the modal, storing nothing', async () => {
    const before = await h.bot.ctx.requests.due(null);
    const { body, requestId } = await h.request(PEOPLE.requester.slack, { duration: 'PT8H' });
    expect(body).toMatchObject({ response_action: 'errors', errors: { duration: expect.stringContaining('PT20S, PT1H') } });
    expect(requestId).toBeNull();
    expect(await h.bot.ctx.requests.due(null)).toHaveLength(before.length);
  });
  it('refuses a profile that is not in the policy', async () => {
    const { body, requestId } = await h.request(PEOPLE.requester.slack, { profile: 'root-everything' });
    expect(body).toMatchObject({ response_action: 'errors', errors: { profile: expect.stringContaining('root-everything') } });
    expect(requestId).toBeNull();
  });
  it('refuses a short justification', async () => {
    const { body } = await h.request(PEOPLE.requester.slack, { justification: 'pls' });
    expect(body).toMatchObject({ response_action: 'errors', errors: { justification: expect.stringContaining('10 characters') } });
  });
  it('refuses someone who is not a requester', async () => {
    const { body, requestId } = await h.request(PEOPLE.outsider.slack);
    expect(body).toMatchObject({ response_action: 'errors', errors: { profile: expect.stringContaining('not among its requesters') } });
    expect(requestId).toBeNull();
  });
  it('refuses a requester with no Identity Center user, naming the email', async () => {
    const { body, requestId } = await h.request(PEOPLE.nobody.slack);
    expect(body).toMatchObject({ response_action: 'errors', errors: { profile: expect.stringContaining(PEOPLE.nobody.email) } });
    expect(requestId).toBeNull();
  });
  it('opens the modal within the trigger lifetime and answers help', async () => {
    const opened = await h.driver.slashCommand(PEOPLE.requester.slack, '');
    expect(opened.status).toBe(200);
    // This command's own trigger: the fake refuses triggers older than 3 s.
    const call = await h.slack.waitFor(() => h.slack.callsTo('views.open').find((c) => c.args.trigger_id === opened.triggerId));
    expect(call).toMatchObject({ ok: true });
    const help = await h.driver.slashCommand(PEOPLE.requester.slack, 'help');
    expect(JSON.stringify(help.body)).toContain('/breakglass cancel');
  });
});

describe('approval rules', () => {
  it('never counts the requester, even when the requester is an approver', async () => {
    const id = await pendingRequest(PEOPLE.approver1.slack);
    await h.click(PEOPLE.approver1.slack, 'approve', id);
    await ephemeralTo(PEOPLE.approver1.slack, 'cannot approve your own request');
    expect((await h.get(id)).approvals).toEqual([]);
  });
  it('refuses an approver who is not in the pool, checked at click time', async () => {
    const id = await pendingRequest();
    await h.click(PEOPLE.outsider.slack, 'approve', id);
    await ephemeralTo(PEOPLE.outsider.slack, 'not an approver');
    expect((await h.get(id)).approvals).toEqual([]);
    // Joining the approver group takes effect within seconds (a miss re-reads groups at most every 10 s), without a restart.
    const joiner = PEOPLE.nobody.slack;
    h.slack.setUsergroup({ id: 'SAPPROVERS', handle: 'approvers', users: [PEOPLE.approver3.slack, PEOPLE.approver4.slack, joiner] });
    h.clock.advance(10_001);
    await h.click(joiner, 'approve', id);
    await ephemeralTo(joiner, '1 of 2');
    h.slack.setUsergroup({ id: 'SAPPROVERS', handle: 'approvers', users: [PEOPLE.approver3.slack, PEOPLE.approver4.slack] });
    await h.settle();
    const audit = JSON.stringify(h.slack.messages(AUDIT));
    expect(audit).toContain('was refused');
  });
  it('counts double and concurrent clicks once', async () => {
    const id = await pendingRequest();
    await Promise.all([1, 2, 3, 4].map(() => h.click(PEOPLE.approver2.slack, 'approve', id)));
    await h.settle();
    const r = await h.get(id);
    expect(r.approvals.map((a) => a.slackUserId)).toEqual([PEOPLE.approver2.slack]);
    expect(r.status).toBe('PENDING');
    await Promise.all([h.click(PEOPLE.approver1.slack, 'approve', id), h.click(PEOPLE.approver3.slack, 'approve', id), h.click(PEOPLE.approver4.slack, 'approve', id)]);
    await h.waitForStatus(id, 'ACTIVE');
    const grants = creations().filter((c) => c.input.PrincipalId === PEOPLE.requester.principal);
    expect(grants).toHaveLength(1);
    expect((await h.get(id)).approvals).toHaveLength(2);
    await h.click(PEOPLE.requester.slack, 'end_access', id);
    await h.waitForStatus(id, 'REVOKED');
  });
  it('rejects forged and stale signatures without acting', async () => {
    const id = await pendingRequest();
    const payload = JSON.stringify({
      type: 'block_actions',
      user: { id: PEOPLE.approver1.slack },
      team: { id: 'T0001' },
      trigger_id: 't',
      actions: [{ action_id: 'approve', value: id, type: 'button', block_id: 'decision' }],
      channel: { id: APPROVALS },
      container: { type: 'message', channel_id: APPROVALS },
    });
    const body = `payload=${encodeURIComponent(payload)}`;
    const now = Math.floor(Date.now() / 1000);
    const forged = await h.driver.raw(body, { 'content-type': 'application/x-www-form-urlencoded', ...h.driver.sign(body, now, 'wrong-secret') });
    expect(forged.status).toBe(401);
    const stale = await h.driver.raw(body, { 'content-type': 'application/x-www-form-urlencoded', ...h.driver.sign(body, now - 10 * 60) });
    expect(stale.status).toBe(401);
    const unsigned = await h.driver.raw(body, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(unsigned.status).toBe(401);
    await h.settle();
    expect((await h.get(id)).approvals).toEqual([]);
  });
  it('shows mention and link injection as text', async () => {
    const nasty = 'Need it now <!channel> <@UAPPROVER1> <https://x.example|click> & more';
    const { requestId } = await h.request(PEOPLE.requester.slack, { justification: nasty });
    const id = requestId ?? '';
    const message = await h.slack.waitFor(() => h.approvalMessage(id));
    const text = JSON.stringify(message.blocks);
    expect(text).toContain('&lt;!channel&gt; &lt;@UAPPROVER1&gt; &lt;https://x.example|click&gt; &amp; more');
    expect(text).not.toContain('<!channel>');
    await h.settle();
    for (const m of h.slack.messages(AUDIT)) expect(JSON.stringify(m)).not.toContain('<!channel>');
  });
});

describe('decisions', () => {
  it('denies with a reason the requester is told', async () => {
    const id = await pendingRequest();
    const grantsBefore = creations().length;
    const before = h.slack.views().length;
    await h.click(PEOPLE.approver2.slack, 'deny', id);
    const modal = await h.slack.waitFor(() => h.slack.views().slice(before).find((v) => v.view?.callback_id === 'breakglass_deny'));
    const empty = await h.driver.viewSubmission(PEOPLE.approver2.slack, modal.id, { reason: { reason: 'x' } }, { skipClientValidation: true });
    expect(empty.body).toMatchObject({ response_action: 'errors', errors: { reason: expect.any(String) } });
    const done = await h.driver.viewSubmission(PEOPLE.approver2.slack, modal.id, { reason: { reason: 'Use the read-only role <!here>' } });
    expect(done.body).toBeUndefined();
    const r = await h.waitForStatus(id, 'DENIED');
    expect(r.decision).toMatchObject({ by: PEOPLE.approver2.slack, reason: 'Use the read-only role <!here>' });
    const dm = await h.slack.waitFor(() => h.slack.dmsTo(PEOPLE.requester.slack).find((m) => (m.text ?? '').includes('was denied') && (m.text ?? '').includes(id)));
    expect(dm.text).toContain('&lt;!here&gt;');
    await h.click(PEOPLE.approver1.slack, 'approve', id);
    await ephemeralTo(PEOPLE.approver1.slack, 'no longer waiting');
    await h.settle();
    expect(creations()).toHaveLength(grantsBefore);
    expect((await h.get(id)).approvals).toEqual([]);
  });
  it('lets the requester cancel a pending request', async () => {
    const id = await pendingRequest();
    const out = await h.driver.slashCommand(PEOPLE.requester.slack, `cancel ${id}`);
    expect(out.status).toBe(200);
    await h.waitForStatus(id, 'CANCELLED');
  });
  it('lets an approver end access early', async () => {
    const id = await pendingRequest(PEOPLE.second.slack);
    await h.click(PEOPLE.approver1.slack, 'approve', id);
    await h.click(PEOPLE.approver2.slack, 'approve', id);
    await h.waitForStatus(id, 'ACTIVE');
    expect(h.ic.assignments().some((a) => a.principalId === PEOPLE.second.principal)).toBe(true);
    await h.click(PEOPLE.outsider.slack, 'end_access', id);
    await ephemeralTo(PEOPLE.outsider.slack, 'Only the requester or an approver');
    expect((await h.get(id)).status).toBe('ACTIVE');
    await h.click(PEOPLE.approver3.slack, 'end_access', id);
    const r = await h.waitForStatus(id, 'REVOKED');
    expect(r.revoke).toMatchObject({ reason: 'ended', by: PEOPLE.approver3.slack, kept: null });
    expect(h.ic.assignments().some((a) => a.principalId === PEOPLE.second.principal)).toBe(false);
  });
});
