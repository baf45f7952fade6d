/**
 * Reminders and escalation (src/services/nudge.ts, src/domain/nudges.ts) on the in-memory ports
 * and a virtual clock: when they happen, whom they mention, and what the publisher posts.
 */
import { describe, expect, it } from 'vitest';
import type { Policy } from '../../src/domain/policy.ts';
import { advance } from '../../src/services/advance.ts';
import { approve } from '../../src/services/approve.ts';
import { cancel } from '../../src/services/cancel.ts';
import { deny } from '../../src/services/deny.ts';
import { submitRequest } from '../../src/services/submit-request.ts';
import { AuditPublisher } from '../../src/workers/publisher.ts';
import { APPROVALS, AUDIT, memoryContext, memoryProfile, PEOPLE, type MemoryWorld } from '../support/memory.ts';

const { requester, approver1, approver2, approver3, outsider } = PEOPLE;
const MIN = 60_000;

const remindEvery15 = { reminders: { every: 'PT15M' } } satisfies Partial<Policy>;
const escalateAfter30 = { escalation: { after: 'PT30M', approvers: { users: [outsider.slack], groups: [] } } } satisfies Partial<Policy>;

async function submitted(w: MemoryWorld, user: string = requester.slack): Promise<string> {
  const r = await submitRequest(w.ctx, user, { profileId: 'org-admin', duration: 'PT1H', justification: 'Production is down and the org SCP needs a fix', ticket: null });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.request.id;
}

/** The sweeper's view: moves the clock to `minutes` after the start, then runs the request's step if it is due. */
async function sweepAt(w: MemoryWorld, id: string, minutes: number): Promise<void> {
  w.clock.advanceTo(new Date(Date.parse(start) + minutes * MIN).toISOString());
  const due = w.store.dueAt(id);
  if (due !== null && due <= w.clock.now()) await advance(w.ctx, id);
}

const start = '2026-11-28T00:00:00.000Z';
const at = (minutes: number) => new Date(Date.parse(start) + minutes * MIN).toISOString();

/** The request's reminders and escalations as queued: type and who was mentioned. */
const nudgeEvents = (w: MemoryWorld, id: string) =>
  w.store
    .events(id)
    .filter((e) => e.type === 'request.reminded' || e.type === 'request.escalated')
    .map((e) => ({ type: e.type, at: e.at, mentioned: (e.details as { mentioned: string[] }).mentioned }));

function publisher(w: MemoryWorld): AuditPublisher {
  return new AuditPublisher({ owner: 'replica-1', outbox: w.ctx.outbox, slack: w.slack, policy: w.policy, log: w.log, clock: w.clock });
}

async function deliver(w: MemoryWorld): Promise<void> {
  const p = publisher(w);
  p.kick();
  await p.idle();
}

describe('when a request is due', () => {
  it('is due at its first reminder or escalation when that comes before its pending timeout', async () => {
    const both = memoryContext({ start, policy: { ...remindEvery15, ...escalateAfter30 } });
    expect(both.store.dueAt(await submitted(both))).toBe(at(15));
    const escalationFirst = memoryContext({ start, policy: { reminders: { every: 'PT45M' }, ...escalateAfter30 } });
    expect(escalationFirst.store.dueAt(await submitted(escalationFirst))).toBe(at(30));
    const neither = memoryContext({ start });
    expect(neither.store.dueAt(await submitted(neither))).toBe(at(60));
    const tooLate = memoryContext({ start, policy: { reminders: { every: 'PT2H' } } });
    expect(tooLate.store.dueAt(await submitted(tooLate))).toBe(at(60));
  });
});

describe('reminders', () => {
  it('mention the eligible approvers who have not acted, never the requester, at every interval until decided', async () => {
    const w = memoryContext({ start, policy: remindEvery15 });
    // ann requests (she is an approver too); bob approves at once.
    const id = await submitted(w, approver1.slack);
    await approve(w.ctx, id, approver2.slack);
    await sweepAt(w, id, 10);
    expect(nudgeEvents(w, id)).toEqual([]);
    await sweepAt(w, id, 15);
    expect(nudgeEvents(w, id)).toEqual([{ type: 'request.reminded', at: at(15), mentioned: [approver3.slack] }]);
    expect((await w.get(id)).nudges).toEqual({ nextReminderAt: at(30), escalated: false, pinged: [approver3.slack] });
    expect(w.store.dueAt(id)).toBe(at(30));
    await sweepAt(w, id, 30);
    expect(nudgeEvents(w, id).map((e) => e.at)).toEqual([at(15), at(30)]);
    await approve(w.ctx, id, approver3.slack);
    expect((await w.get(id)).status).toBe('APPROVED');
    await sweepAt(w, id, 45);
    await sweepAt(w, id, 60);
    expect(nudgeEvents(w, id)).toHaveLength(2);
  });

  it('are sent once after the bot was away, not in a burst, and counted on from then', async () => {
    const w = memoryContext({ start, policy: { ...remindEvery15, pendingTimeout: 'PT4H' } });
    const id = await submitted(w);
    await sweepAt(w, id, 61);
    expect(nudgeEvents(w, id).map((e) => e.at)).toEqual([at(61)]);
    expect((await w.get(id)).nudges?.nextReminderAt).toBe(at(76));
    await sweepAt(w, id, 62);
    expect(nudgeEvents(w, id)).toHaveLength(1);
  });

  it('post nothing when nobody is left to mention, and still move to the next interval', async () => {
    const w = memoryContext({ start, policy: { ...remindEvery15, profiles: [memoryProfile({ denials: 3 })] } });
    const id = await submitted(w);
    await approve(w.ctx, id, approver1.slack);
    await deny(w.ctx, id, approver2.slack, 'Use the read-only role');
    await deny(w.ctx, id, approver3.slack, 'Agreed');
    await sweepAt(w, id, 15);
    const r = await w.get(id);
    expect(r.status).toBe('PENDING');
    expect(nudgeEvents(w, id)).toEqual([]);
    expect(r.nudges).toMatchObject({ nextReminderAt: at(30), pinged: [] });
    expect(w.store.dueAt(id)).toBe(at(30));
  });

  it('end at the pending timeout: the request expires instead', async () => {
    const w = memoryContext({ start, policy: { reminders: { every: 'PT25M' } } });
    const id = await submitted(w);
    await sweepAt(w, id, 25);
    await sweepAt(w, id, 50);
    // The next one (75) would come after the timeout (60).
    expect(w.store.dueAt(id)).toBe(at(60));
    await sweepAt(w, id, 75);
    expect((await w.get(id)).status).toBe('EXPIRED');
    expect(nudgeEvents(w, id).map((e) => e.at)).toEqual([at(25), at(50)]);
  });

  it('never reach a request stored before they existed, nor go on once the policy drops them', async () => {
    const w = memoryContext({ start, policy: remindEvery15 });
    await w.plant('req_old', 'PENDING', { approvals: [] }, at(15));
    await sweepAt(w, 'req_old', 15);
    expect(w.store.events('req_old')).toEqual([]);
    expect(w.store.dueAt('req_old')).toBe(at(60));

    const dropped = memoryContext({ start, policy: remindEvery15 });
    const id = await submitted(dropped);
    dropped.ctx.policy = { ...dropped.ctx.policy, reminders: null };
    await sweepAt(dropped, id, 15);
    expect(nudgeEvents(dropped, id)).toEqual([]);
    expect(dropped.store.dueAt(id)).toBe(at(60));
  });
});

describe('escalation', () => {
  it('happens once, tells the fallback pool but never the requester, and only from then on counts its approval', async () => {
    // rita, the requester, is in the fallback pool too.
    const w = memoryContext({ start, policy: { escalation: { after: 'PT30M', approvers: { users: [outsider.slack, requester.slack], groups: [] } } } });
    const id = await submitted(w);
    expect(await approve(w.ctx, id, outsider.slack)).toMatchObject({ ok: false, message: expect.stringContaining('not an approver') });
    await sweepAt(w, id, 30);
    expect(nudgeEvents(w, id)).toEqual([{ type: 'request.escalated', at: at(30), mentioned: [outsider.slack] }]);
    expect((await w.get(id)).nudges).toEqual({ nextReminderAt: null, escalated: true, escalatedTo: { mentioned: [outsider.slack], more: 0 }, pinged: [outsider.slack] });
    expect(w.store.dueAt(id)).toBe(at(60));
    await advance(w.ctx, id);
    expect(nudgeEvents(w, id)).toHaveLength(1);
    expect(await approve(w.ctx, id, outsider.slack)).toMatchObject({ ok: true, message: 'Approved: 1 of 2 approvals so far.' });
  });

  it('coming with a reminder: the reminder includes the pool from then on, and nobody is mentioned twice at once', async () => {
    const w = memoryContext({ start, policy: { ...remindEvery15, ...escalateAfter30 } });
    const id = await submitted(w);
    await approve(w.ctx, id, approver1.slack);
    await sweepAt(w, id, 15);
    await sweepAt(w, id, 30);
    await sweepAt(w, id, 45);
    expect(nudgeEvents(w, id)).toEqual([
      { type: 'request.reminded', at: at(15), mentioned: [approver2.slack, approver3.slack] },
      { type: 'request.escalated', at: at(30), mentioned: [outsider.slack] },
      { type: 'request.reminded', at: at(30), mentioned: [approver2.slack, approver3.slack] },
      { type: 'request.reminded', at: at(45), mentioned: [approver2.slack, approver3.slack, outsider.slack] },
    ]);
    expect((await w.get(id)).nudges?.pinged).toEqual([approver2.slack, approver3.slack, outsider.slack]);
  });

  it('waits for the sweeper to tell people, but the fallback approval counts from the escalation time whatever the sweeper got to', async () => {
    const w = memoryContext({ start, policy: escalateAfter30 });
    const id = await submitted(w);
    w.clock.advanceTo(at(31));
    await approve(w.ctx, id, approver1.slack);
    expect(await approve(w.ctx, id, outsider.slack)).toMatchObject({ ok: true });
    expect((await w.get(id)).status).toBe('APPROVED');
    expect(nudgeEvents(w, id)).toEqual([]);
  });
});

describe('in Slack', () => {
  it('replies in the approval message\'s thread, notes each in the audit thread, shows the escalation on the message, and tells everyone pinged who decided', async () => {
    const w = memoryContext({ start, policy: { ...remindEvery15, ...escalateAfter30 } });
    const id = await submitted(w);
    await deliver(w);
    const [approval] = w.slack.messages(APPROVALS);
    const [parent] = w.slack.messages(AUDIT);
    await approve(w.ctx, id, approver1.slack);
    await sweepAt(w, id, 15);
    await sweepAt(w, id, 30);
    await deliver(w);
    const replies = () => w.slack.replies(APPROVALS, approval?.ts ?? '').map((m) => m.text);
    expect(replies()).toEqual([
      `:bell: Reminder: this request is still waiting for a decision, until Sat 28 Nov 2026, 01:00:00 UTC. <@${approver2.slack}>, <@${approver3.slack}>: please approve or deny it above.`,
      `:arrow_up: Escalated: nobody decided within 30 minutes, so <@${outsider.slack}> may now approve or deny this request too.`,
      expect.stringContaining(`<@${approver2.slack}>, <@${approver3.slack}>: please approve`),
    ]);
    expect(replies().join()).not.toContain(requester.slack);
    const audit = w.slack.replies(AUDIT, parent?.ts ?? '').map((m) => m.text);
    expect(audit).toContain(`Reminded the approvers who have not acted: <@${approver2.slack}>, <@${approver3.slack}>`);
    expect(audit).toContain(`Escalated after 30 minutes: <@${outsider.slack}> may approve too`);
    const shown = JSON.stringify(w.slack.updates.filter((u) => u.ts === approval?.ts).at(-1)?.blocks);
    expect(shown).toContain(`Escalated at Sat 28 Nov 2026, 00:30:00 UTC: <@${outsider.slack}> may approve too`);

    await approve(w.ctx, id, outsider.slack);
    await deliver(w);
    expect(replies()).toHaveLength(4);
    // The approvers as the quorum counted them; everyone else pinged once each.
    expect(replies()[3]).toBe(`:white_check_mark: Decided: approved by <@${outsider.slack}>, <@${approver1.slack}>. <@${approver2.slack}>, <@${approver3.slack}>: nothing left to do here.`);
  });

  it('says nothing more in the thread of a request nobody was reminded of', async () => {
    const w = memoryContext({ start, policy: remindEvery15 });
    const id = await submitted(w);
    await cancel(w.ctx, id, requester.slack);
    await deliver(w);
    const [approval] = w.slack.messages(APPROVALS);
    expect(w.slack.replies(APPROVALS, approval?.ts ?? '')).toEqual([]);
  });

  it('keeps a long list of mentions within Slack\'s limits and says how many more there are', async () => {
    const big = Array.from({ length: 120 }, (_v, i) => `UBIG${String(i).padStart(4, '0')}`);
    const w = memoryContext({ start, policy: { ...remindEvery15, approvers: { users: [], groups: ['SBIG'] } } });
    w.directory.groups.set('SBIG', new Set(big));
    const id = await submitted(w);
    await sweepAt(w, id, 15);
    await deny(w.ctx, id, big[0] ?? '', 'Not for this');
    await deliver(w);
    const [approval] = w.slack.messages(APPROVALS);
    const replies = w.slack.replies(APPROVALS, approval?.ts ?? '');
    expect(replies).toHaveLength(2);
    for (const reply of replies) {
      const section = reply.blocks[0] as { text: { text: string } };
      expect(section.text.text.length).toBeLessThanOrEqual(3000);
      expect(section.text.text).not.toContain('…');
    }
    expect(replies[0]?.text).toContain(`<@${big[49] ?? ''}> and 70 more: please approve`);
    expect(replies[0]?.text).not.toContain(big[50] ?? '');
    // The denier is named; the other 49 pinged are mentioned.
    expect(replies[1]?.text).toMatch(new RegExp(`^:no_entry: Decided: denied by <@${big[0] ?? ''}>\\. <@${big[1] ?? ''}>.*<@${big[49] ?? ''}>: nothing left to do here\\.$`));
    expect((await w.get(id)).nudges?.pinged).toHaveLength(50);
  });
});
