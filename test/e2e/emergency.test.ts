/**
 * Emergency access, ratified or revoked (issue 11): granted at once, then the quorum ratifies it
 * within `ratifyWithin`, or it is revoked; one denial revokes it. The bot's clock is moved.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { APPROVALS, AUDIT, PEOPLE, eventually, startHarness, type Harness, type HarnessOptions } from '../support/harness.ts';

const { requester, second, approver1, approver2, approver3, approver4 } = PEOPLE;
const MINUTE = 60_000;

let h: Harness | null = null;
afterEach(async () => {
  await h?.stop();
  h = null;
});

async function start(o: HarnessOptions = {}): Promise<Harness> {
  h = await startHarness({ durations: ['PT20M', 'PT1H', 'PT2H'], profileExtra: ['emergency: { maxDuration: PT1H, ratifyWithin: PT15M, requireTicket: true }'], ...o });
  return h;
}

/** Runs `/breakglass emergency` as `user` and submits the form; the form's answer and the request it stored. */
async function emergency(x: Harness, user: string, values: { duration?: string; ticket?: string | null } = {}): Promise<{ body: unknown; id: string | null; durations: string[] }> {
  const before = new Set(x.slack.views().map((v) => v.id));
  const opened = await x.driver.slashCommand(user, 'emergency');
  expect(opened.status).toBe(200);
  const form = await x.slack.waitFor(() => x.slack.views().find((v) => !before.has(v.id) && v.view?.callback_id === 'breakglass_emergency'));
  const select = (form.view?.blocks as { block_id?: string; element?: { options?: { value: string }[] } }[]).find((b) => b.block_id === 'duration');
  const known = new Set((await x.bot.ctx.requests.due(null)).map((d) => d.id));
  const sub = await x.driver.viewSubmission(
    user,
    form.id,
    {
      profile: { profile: 'org-admin' },
      duration: { duration: values.duration ?? 'PT20M' },
      justification: { justification: 'The org SCP locks everyone out; nobody can approve at 3 a.m.' },
      ticket: { ticket: values.ticket === undefined ? 'INC-9' : values.ticket },
    },
    { skipClientValidation: true },
  );
  const id = (await x.bot.ctx.requests.due(null)).map((d) => d.id).find((i) => !known.has(i)) ?? null;
  return { body: sub.body, id, durations: (select?.element?.options ?? []).map((o) => o.value) };
}

const text = (m: { text?: string }) => m.text ?? '';

describe('emergency access', () => {
  it('grants at once, alerts every approver and the audit channel, and stands once the quorum ratifies it in time', async () => {
    const x = await start({ transport: 'socket' });
    const { id, durations } = await emergency(x, requester.slack);
    // Only durations up to the emergency cap are offered.
    expect(durations).toEqual(['PT20M', 'PT1H']);
    const granted = await x.waitForStatus(id ?? '', 'ACTIVE');
    expect(granted.approvals).toEqual([]);
    expect(granted.emergency).toMatchObject({ ratifiedAt: null, rejected: null });
    const rid = granted.id;
    const message = await x.slack.waitFor(() => x.approvalMessage(rid));
    expect(JSON.stringify(message.blocks)).toContain('EMERGENCY');
    await x.slack.waitFor(() => x.slack.messages(AUDIT).find((m) => text(m).includes('EMERGENCY') && text(m).includes(`request \`${rid}\``)));
    // Every eligible approver, the group's members too, is told by DM; the requester is not.
    for (const a of [approver1, approver2, approver3, approver4]) {
      await x.slack.waitFor(() => x.slack.dmsTo(a.slack).find((m) => text(m).includes('EMERGENCY') && JSON.stringify(m.blocks).includes(`"value":"${rid}"`)));
    }
    expect(x.slack.dmsTo(requester.slack).some((m) => text(m).includes('took access'))).toBe(false);
    await x.click(approver1.slack, 'approve', rid);
    await x.click(approver3.slack, 'approve', rid);
    const ratified = await eventually(async () => {
      const r = await x.get(rid);
      return r.emergency?.ratifiedAt ? r : null;
    });
    expect(ratified.status).toBe('ACTIVE');
    x.clock.advance(16 * MINUTE);
    await x.settle();
    await new Promise((r) => setTimeout(r, 1200));
    expect((await x.get(rid)).status).toBe('ACTIVE');
    x.clock.advance(5 * MINUTE);
    const ended = await x.waitForStatus(rid, 'REVOKED', 20_000);
    expect(ended.revoke?.reason).toBe('expired');
  });

  it('is revoked at once, with its sessions, when the quorum does not ratify it in time, and says so loudly', async () => {
    const x = await start();
    const { id } = await emergency(x, requester.slack, { duration: 'PT1H' });
    const rid = id ?? '';
    await x.waitForStatus(rid, 'ACTIVE');
    const session = x.ic.issueSession({ userId: requester.principal, permissionSetArn: (await x.get(rid)).target.permissionSetArn, accountId: (await x.get(rid)).target.accountId }).sessionId;
    await x.click(approver1.slack, 'approve', rid);
    await eventually(async () => (await x.get(rid)).approvals.length === 1);
    x.clock.advance(15 * MINUTE);
    const r = await x.waitForStatus(rid, 'REVOKED', 20_000);
    expect(r.revoke?.reason).toBe('unratified');
    expect(r.emergency?.rejected).toMatchObject({ why: 'unratified' });
    expect(x.ic.sessionAllowed(session)).toBe(false);
    await x.slack.waitFor(() => x.slack.messages(AUDIT).find((m) => text(m).includes('was not ratified') && text(m).includes(`request \`${rid}\``)));
    // Too late to ratify now.
    await x.click(approver2.slack, 'approve', rid);
    await x.slack.waitFor(() => x.slack.ephemerals().find((e) => e.user === approver2.slack && text(e).includes('no longer waiting for ratification')));
  });

  it('reminds the approvers who have not ratified it, and tells them once it is ratified', async () => {
    const x = await start({ policyExtra: 'reminders: { every: PT5M }' });
    const { id } = await emergency(x, requester.slack);
    const rid = id ?? '';
    await x.waitForStatus(rid, 'ACTIVE');
    await x.click(approver1.slack, 'approve', rid);
    await eventually(async () => (await x.get(rid)).approvals.length === 1);
    const approval = await x.slack.waitFor(() => x.approvalMessage(rid));
    const replies = () => x.slack.thread(APPROVALS, approval.ts).map((m) => m.text ?? '');
    x.clock.advance(5 * MINUTE);
    const reminder = await eventually(() => replies().find((t) => t.includes('Reminder')), 10_000, () => 'no reminder');
    expect(reminder).toContain(`<@${approver2.slack}>`);
    expect(reminder).not.toContain(approver1.slack);
    expect(reminder).not.toContain(requester.slack);
    await x.click(approver2.slack, 'approve', rid);
    await eventually(() => replies().find((t) => t.includes('Decided: ratified by')), 10_000, () => 'no decided reply');
    expect((await x.get(rid)).status).toBe('ACTIVE');
  });

  it('is revoked at once when any approver denies it', async () => {
    const x = await start();
    const { id } = await emergency(x, requester.slack);
    const rid = id ?? '';
    await x.waitForStatus(rid, 'ACTIVE');
    await x.click(approver1.slack, 'approve', rid);
    const before = x.slack.views().length;
    await x.click(approver2.slack, 'deny', rid);
    const modal = await x.slack.waitFor(() => x.slack.views().slice(before).find((v) => v.view?.callback_id === 'breakglass_deny'));
    await x.driver.viewSubmission(approver2.slack, modal.id, { reason: { reason: 'No incident open; this is not an emergency' } });
    const r = await x.waitForStatus(rid, 'REVOKED', 20_000);
    expect(r.revoke?.reason).toBe('denied');
    expect(r.emergency?.rejected).toMatchObject({ why: 'denied', by: approver2.slack });
    await x.slack.waitFor(() => x.slack.dmsTo(requester.slack).find((m) => text(m).includes('was denied by') && text(m).includes(rid)));
  });

  it('is limited per day, needs an incident reference, and is refused to someone who may not request the profile', async () => {
    const x = await start();
    const noTicket = await emergency(x, requester.slack, { ticket: null });
    expect(noTicket.body).toMatchObject({ response_action: 'errors', errors: { ticket: expect.stringContaining('incident reference') } });
    expect(noTicket.id).toBeNull();
    const first = await emergency(x, requester.slack);
    expect(first.id).toMatch(/^req_/);
    const again = await emergency(x, requester.slack);
    expect(again.body).toMatchObject({ response_action: 'errors', errors: { profile: expect.stringContaining('perDay: 1') } });
    expect(again.id).toBeNull();
    // Someone else still may, and a day later the requester may again.
    expect((await emergency(x, second.slack)).id).toMatch(/^req_/);
    x.clock.advance(24 * 3600_000 + 1000);
    expect((await emergency(x, requester.slack)).id).toMatch(/^req_/);
    const outsider = await emergency(x, PEOPLE.outsider.slack);
    expect(outsider.body).toMatchObject({ response_action: 'errors', errors: { profile: expect.stringContaining('not among its requesters') } });
  });
});
