import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APPROVALS, AUDIT, PEOPLE, startHarness, type Harness } from '../support/harness.ts';
import type { PostedMessage } from '../support/fake-slack.ts';

/**
 * Reminders every minute and escalation to olly (no approver otherwise) after 150 seconds, over
 * both transports; the bot's clock is moved instead of waiting. ann requests: she is an approver
 * too, so she must never be reminded of her own request.
 */
const { approver1: ann, approver2: bob, approver3: cat, approver4: dan, outsider: olly } = PEOPLE;
const SECOND = 1000;

describe.each(['http', 'socket'] as const)('reminders and escalation over %s', (transport) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      transport,
      durations: ['PT1H'],
      policyExtra: `reminders: { every: PT1M }\nescalation: { after: PT150S, approvers: { users: [${olly.slack}] } }`,
    });
  });
  afterAll(async () => {
    await h.stop();
  });

  const ephemeralTo = (user: string, fragment: string) =>
    h.slack.waitFor(() => h.slack.ephemerals().find((e) => e.user === user && (e.text ?? '').includes(fragment)), 10_000);

  async function pending(): Promise<{ id: string; approval: PostedMessage }> {
    const { requestId, body } = await h.request(ann.slack, { duration: 'PT1H' });
    if (!requestId) throw new Error(`request was not stored: ${JSON.stringify(body)}`);
    const approval = await h.slack.waitFor(() => h.approvalMessage(requestId), 10_000);
    return { id: requestId, approval };
  }

  const replies = (approval: PostedMessage) => h.slack.thread(APPROVALS, approval.ts).map((m) => m.text ?? '');
  const waitForReplies = (approval: PostedMessage, n: number) => h.slack.waitFor(() => replies(approval).length >= n && replies(approval), 10_000);
  const auditReplies = (id: string) => {
    const parent = h.slack.messages(AUDIT).find((m) => !m.threadTs && (m.text ?? '').includes(`request \`${id}\``));
    return parent ? h.slack.thread(AUDIT, parent.ts).map((m) => m.text ?? '') : [];
  };
  const mentioned = (text: string) => [...text.matchAll(/<@(\w+)>/g)].map((m) => m[1]).sort();

  it('reminds who has not acted until it is decided, grows the pool once, counts the fallback only after, and tells everyone pinged who decided', async () => {
    const { id, approval } = await pending();
    await h.click(bob.slack, 'approve', id);
    await ephemeralTo(bob.slack, '1 of 2 approvals');
    // Before the escalation olly is nobody here.
    await h.click(olly.slack, 'approve', id);
    await ephemeralTo(olly.slack, 'not an approver for this request');
    expect((await h.get(id)).approvals.map((a) => a.slackUserId)).toEqual([bob.slack]);

    h.clock.advance(60 * SECOND);
    const [first] = await waitForReplies(approval, 1);
    expect(first).toContain(':bell: Reminder: this request is still waiting for a decision');
    // Not ann (the requester), not bob (approved), not olly (not yet eligible).
    expect(mentioned(first ?? '')).toEqual([cat.slack, dan.slack]);

    h.clock.advance(60 * SECOND);
    const second = (await waitForReplies(approval, 2))[1] ?? '';
    expect(mentioned(second)).toEqual([cat.slack, dan.slack]);

    h.clock.advance(30 * SECOND);
    const escalated = (await waitForReplies(approval, 3))[2] ?? '';
    expect(escalated).toBe(`:arrow_up: Escalated: nobody decided within 2 minutes 30 seconds, so <@${olly.slack}> may now approve or deny this request too.`);
    await h.slack.waitFor(() => JSON.stringify(h.approvalMessage(id)?.blocks).includes(`may approve too`), 10_000);
    expect(JSON.stringify(h.approvalMessage(id)?.blocks)).toMatch(new RegExp(`Escalated at [^"]+ UTC: <@${olly.slack}> may approve too`));
    await h.slack.waitFor(() => auditReplies(id).includes(`Escalated after 2 minutes 30 seconds: <@${olly.slack}> may approve too`), 10_000);
    expect(auditReplies(id).filter((t) => t.startsWith('Reminded the approvers who have not acted'))).toEqual([
      `Reminded the approvers who have not acted: <@${cat.slack}>, <@${dan.slack}>`,
      `Reminded the approvers who have not acted: <@${cat.slack}>, <@${dan.slack}>`,
    ]);

    // From the escalation on, olly counts, and the next reminder includes him.
    h.clock.advance(30 * SECOND);
    expect(mentioned((await waitForReplies(approval, 4))[3] ?? '')).toEqual([cat.slack, dan.slack, olly.slack]);
    await h.click(olly.slack, 'approve', id);
    await ephemeralTo(olly.slack, 'approval 2 of 2');
    await h.waitForStatus(id, 'ACTIVE');

    const decided = (await waitForReplies(approval, 5))[4] ?? '';
    expect(decided).toMatch(/^:white_check_mark: Decided: approved by /);
    expect(decided).toContain(`<@${cat.slack}>, <@${dan.slack}>: nothing left to do here.`);
    expect(mentioned(decided)).toEqual([bob.slack, cat.slack, dan.slack, olly.slack]);
    expect((await h.get(id)).nudges?.pinged).toEqual([cat.slack, dan.slack, olly.slack]);

    // Decided: the reminders stop.
    h.clock.advance(120 * SECOND);
    await new Promise((r) => setTimeout(r, 2500));
    await h.settle();
    expect(replies(approval)).toHaveLength(5);
    expect(replies(approval).join('\n')).not.toContain(ann.slack);
  });

  it('tells the people it reminded who denied the request', async () => {
    const { id, approval } = await pending();
    h.clock.advance(60 * SECOND);
    expect(mentioned((await waitForReplies(approval, 1))[0] ?? '')).toEqual([bob.slack, cat.slack, dan.slack]);
    const before = h.slack.views().length;
    await h.click(cat.slack, 'deny', id);
    const modal = await h.slack.waitFor(() => h.slack.views().slice(before).find((v) => v.view?.callback_id === 'breakglass_deny' && v.userId === cat.slack), 10_000);
    await h.driver.viewSubmission(cat.slack, modal.id, { reason: { reason: 'Use the read-only role' } });
    await h.waitForStatus(id, 'DENIED');
    expect((await waitForReplies(approval, 2))[1]).toBe(`:no_entry: Decided: denied by <@${cat.slack}>. <@${bob.slack}>, <@${dan.slack}>: nothing left to do here.`);
  });
});
