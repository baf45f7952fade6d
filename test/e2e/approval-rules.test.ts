import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APPROVALS, PEOPLE, startHarness, type Harness } from '../support/harness.ts';

/**
 * A profile whose approvals are rules: 1 from security (ann, cat, dan) and 1 from platform
 * (bob, cat): cat is in both. Two denials end a request; only rita and ann may request it.
 */
const { requester, second, approver1: ann, approver2: bob, approver3: cat, approver4: dan, outsider } = PEOPLE;

let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    transport: 'socket',
    approvalsYaml: `
      - { count: 1, from: { groups: [SSEC] }, name: security }
      - { count: 1, from: { groups: [SPLAT] }, name: platform }`,
    profileExtra: ['denials: 2', `requesters: { users: [${requester.slack}, ${ann.slack}] }`],
    usergroups: [
      { id: 'SSEC', handle: 'security', users: [ann.slack, cat.slack, dan.slack] },
      { id: 'SPLAT', handle: 'platform', users: [bob.slack, cat.slack] },
    ],
  });
});
afterAll(async () => {
  await h.stop();
});

const ephemeralTo = (user: string, fragment: string) =>
  h.slack.waitFor(() => h.slack.ephemerals().find((e) => e.user === user && (e.text ?? '').includes(fragment)));

async function pending(): Promise<string> {
  const { requestId, body } = await h.request(requester.slack);
  if (!requestId) throw new Error(`request was not stored: ${JSON.stringify(body)}`);
  await h.slack.waitFor(() => h.approvalMessage(requestId));
  return requestId;
}

async function denyAs(user: string, id: string, reason: string): Promise<void> {
  const before = h.slack.views().length;
  await h.click(user, 'deny', id);
  const modal = await h.slack.waitFor(() => h.slack.views().slice(before).find((v) => v.view?.callback_id === 'breakglass_deny' && v.userId === user));
  const out = await h.driver.viewSubmission(user, modal.id, { reason: { reason } });
  expect(out.body).toBeUndefined();
}

describe('approval rules', () => {
  it('counts a person in both groups toward one rule, and moves them to the rule only they can fill', async () => {
    const id = await pending();
    await h.click(cat.slack, 'approve', id);
    await ephemeralTo(cat.slack, '1 of 2 approvals');
    // dan can only count for security: cat moves to platform, and both rules hold.
    await h.click(dan.slack, 'approve', id);
    await ephemeralTo(dan.slack, 'approval 2 of 2');
    const r = await h.waitForStatus(id, 'ACTIVE');
    expect(r.approvals.map((a) => [a.slackUserId, a.rules])).toEqual([
      [cat.slack, [0, 1]],
      [dan.slack, [0]],
    ]);
    await h.settle();
    const text = JSON.stringify(h.approvalMessage(id)?.blocks);
    expect(text).toContain(`security 1 of 1 (<@${dan.slack}>)`);
    expect(text).toContain(`platform 1 of 1 (<@${cat.slack}>)`);
  });

  it('does not let two approvers of one rule meet the other rule', async () => {
    const id = await pending();
    await h.click(ann.slack, 'approve', id);
    await ephemeralTo(ann.slack, '1 of 2 approvals');
    await h.click(dan.slack, 'approve', id);
    await ephemeralTo(dan.slack, 'still needed: 1 from platform');
    await h.settle();
    expect((await h.get(id)).status).toBe('PENDING');
    expect(JSON.stringify(h.approvalMessage(id)?.blocks)).toContain(`also approved: <@${dan.slack}>`);
    await h.click(bob.slack, 'approve', id);
    await h.waitForStatus(id, 'ACTIVE');
  });

  it('refuses someone in neither group, and audits it', async () => {
    const id = await pending();
    await h.click(outsider.slack, 'approve', id);
    await ephemeralTo(outsider.slack, 'not an approver for this request');
    expect((await h.get(id)).approvals).toEqual([]);
  });
});

describe('denials', () => {
  it('needs the profile\'s number of distinct denials to end a request', async () => {
    const id = await pending();
    await denyAs(bob.slack, id, 'Use the read-only role');
    await h.settle();
    let r = await h.get(id);
    expect(r.status).toBe('PENDING');
    expect(r.denials?.map((d) => d.slackUserId)).toEqual([bob.slack]);
    expect(JSON.stringify(h.approvalMessage(id)?.blocks)).toContain('1 of 2 denials');
    await h.click(bob.slack, 'deny', id);
    await ephemeralTo(bob.slack, 'already denied');
    await denyAs(ann.slack, id, 'Agreed, read-only is enough');
    r = await h.waitForStatus(id, 'DENIED');
    expect(r.decision).toMatchObject({ by: ann.slack, reason: 'Agreed, read-only is enough' });
  });
});

describe('who may request a profile', () => {
  it('refuses a policy requester who is not among the profile\'s own requesters', async () => {
    const { body, requestId } = await h.request(second.slack);
    expect(requestId).toBeNull();
    expect(body).toMatchObject({ response_action: 'errors', errors: { profile: expect.stringContaining('not among its requesters') } });
  });
});

describe('confirmation', () => {
  it('asks before every button that changes access, saying what will happen', async () => {
    const id = await pending();
    const buttons = (h.approvalMessage(id)?.blocks ?? []).flatMap((b) => (b as { elements?: { action_id?: string; confirm?: { text: { text: string } } }[] }).elements ?? []);
    const approve = buttons.find((e) => e.action_id === 'approve');
    const deny = buttons.find((e) => e.action_id === 'deny');
    expect(approve?.confirm?.text.text).toContain('Organizations administrator (account 111111111111) for 20 seconds');
    expect(deny?.confirm?.text.text).toContain('1 more end the request');
    await h.click(ann.slack, 'approve', id);
    await h.click(bob.slack, 'approve', id);
    await h.waitForStatus(id, 'ACTIVE');
    const dm = await h.slack.waitFor(() => h.slack.dmsTo(requester.slack).find((m) => JSON.stringify(m.blocks ?? []).includes(`"value":"${id}"`)));
    const end = (dm.blocks ?? []).flatMap((b) => (b as { elements?: { action_id?: string; confirm?: { text: { text: string } } }[] }).elements ?? []).find((e) => e.action_id === 'end_access');
    expect(end?.confirm?.text.text).toContain('sessions it opened are ended');
    expect(h.slack.messages(APPROVALS).length).toBeGreaterThan(0);
  });
});
