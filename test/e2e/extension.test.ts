/**
 * Extending active access with re-approval, and the warning before it ends (issue 11). The bot's
 * clock is moved forward instead of waiting; Identity Center shares it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { PostedMessage } from '../support/fake-slack.ts';
import { approved } from '../support/plant.ts';
import { AUDIT, PEOPLE, eventually, startHarness, type Harness, type HarnessOptions } from '../support/harness.ts';

const { requester, approver1, approver2, approver3 } = PEOPLE;
const MINUTE = 60_000;

let h: Harness | null = null;
afterEach(async () => {
  await h?.stop();
  h = null;
});

async function start(o: HarnessOptions = {}): Promise<Harness> {
  h = await startHarness({ durations: ['PT20M', 'PT1H'], ...o });
  return h;
}

async function active(x: Harness, duration = 'PT20M'): Promise<string> {
  const id = await approved(x, requester.slack, duration);
  await x.waitForStatus(id, 'ACTIVE');
  return id;
}

const buttonsOf = (m: PostedMessage) => (m.blocks ?? []).flatMap((b) => (b as { elements?: { action_id?: string; value?: string }[] }).elements ?? []);

/** The requester's newest DM with a button of `action` for the grant. */
const dmWith = (x: Harness, action: string, id: string, text = '') =>
  x.slack.waitFor(() =>
    x.slack
      .dmsTo(requester.slack)
      .filter((m) => buttonsOf(m).some((e) => e.action_id === action && e.value === id) && (m.text ?? '').includes(text))
      .at(-1),
  );

/** Clicks Extend in the DM, picks `duration` in the form and submits it; the form's answer and the extension's id. */
async function extend(x: Harness, id: string, duration: string, o: { allowUnknownOptions?: boolean } = {}): Promise<{ body: unknown; extensionId: string | null; offered: string[] }> {
  const dm = await dmWith(x, 'extend', id);
  const before = x.slack.views().length;
  await x.driver.blockAction(requester.slack, { actionId: 'extend', value: id, message: { channel: dm.channel, ts: dm.ts } });
  const form = await x.slack.waitFor(() => x.slack.views().slice(before).find((v) => v.view?.callback_id === 'breakglass_extend'));
  const select = (form.view?.blocks as { block_id?: string; element?: { options?: { value: string }[] } }[]).find((b) => b.block_id === 'duration');
  const offered = (select?.element?.options ?? []).map((o) => o.value);
  const sub = await x.driver.viewSubmission(requester.slack, form.id, { duration: { duration }, justification: { justification: 'The migration needs another hour' } }, { allowUnknownOptions: o.allowUnknownOptions ?? false, skipClientValidation: true });
  const extensionId = (await x.get(id)).grant.extensionRequested ?? null;
  return { body: sub.body, extensionId: sub.body ? null : extensionId, offered };
}

const creations = (x: Harness) => x.ic.callsTo('CreateAccountAssignment').filter((c) => c.status === 200);
const deletions = (x: Harness) => x.ic.callsTo('DeleteAccountAssignment').filter((c) => c.status === 200);

describe('extension with re-approval', () => {
  it('moves the expiry once approved: one assignment, one revoke, the original approvers may approve again', async () => {
    const x = await start({ transport: 'socket' });
    const id = await active(x);
    const before = (await x.get(id)).grant.expiresAt ?? '';
    const { extensionId, offered } = await extend(x, id, 'PT1H');
    // 2 hours in all (the longest duration × 2): 20 minutes used, so both durations still fit.
    expect(offered).toEqual(['PT20M', 'PT1H']);
    const ext = extensionId ?? '';
    expect(ext).toMatch(/^req_/);
    const message = await x.slack.waitFor(() => x.approvalMessage(ext));
    expect(JSON.stringify(message.blocks)).toContain(`Extends the active access \`${id}\``);
    await x.click(requester.slack, 'approve', ext);
    await x.click(approver1.slack, 'approve', ext);
    await x.click(approver2.slack, 'approve', ext);
    const done = await x.waitForStatus(ext, 'EXTENDED');
    expect(done.approvals.map((a) => a.slackUserId)).toEqual([approver1.slack, approver2.slack]);
    const grant = await x.get(id);
    expect(Date.parse(grant.grant.expiresAt ?? '') - Date.parse(before)).toBe(60 * MINUTE);
    expect(grant.grant.extensions).toMatchObject([{ requestId: ext, duration: 'PT1H', from: before }]);
    await x.slack.waitFor(() => x.slack.dmsTo(requester.slack).find((m) => (m.text ?? '').includes('was extended by 1 hour')));
    // At the old end nothing happens; at the new end, one revoke.
    x.clock.advance(21 * MINUTE);
    await x.settle();
    expect((await x.get(id)).status).toBe('ACTIVE');
    x.clock.advance(60 * MINUTE);
    await x.waitForStatus(id, 'REVOKED', 20_000);
    await x.settle();
    expect(creations(x)).toHaveLength(1);
    expect(deletions(x)).toHaveLength(1);
    const thread = x.slack.messages(AUDIT).map((m) => m.text ?? '');
    expect(thread.some((t) => t.includes(`through \`${ext}\``))).toBe(true);
  });

  it('lapses when the access ends before the extension is approved', async () => {
    const x = await start();
    const id = await active(x);
    const { extensionId } = await extend(x, id, 'PT20M');
    const ext = extensionId ?? '';
    await x.slack.waitFor(() => x.approvalMessage(ext));
    await x.click(approver1.slack, 'approve', ext);
    await eventually(async () => (await x.get(ext)).approvals.length === 1);
    x.clock.advance(20 * MINUTE + 1000);
    await x.waitForStatus(id, 'REVOKED', 20_000);
    const lapsed = await x.waitForStatus(ext, 'EXPIRED');
    expect(lapsed.approvals).toHaveLength(1);
    await x.slack.waitFor(() => x.slack.dmsTo(requester.slack).find((m) => (m.text ?? '').includes(`\`${ext}\``) && (m.text ?? '').includes('lapsed')));
    await x.click(approver2.slack, 'approve', ext);
    await x.settle();
    expect((await x.get(ext)).status).toBe('EXPIRED');
    expect(creations(x)).toHaveLength(1);
    expect(deletions(x)).toHaveLength(1);
  });

  it('never lets a grant with its extensions exceed maxTotal, and the button says so', async () => {
    const x = await start({ profileExtra: ['maxTotal: PT1H30M'] });
    const id = await active(x, 'PT1H');
    // 30 minutes left under the cap: only 20 minutes is offered, and a forged 1 hour is refused in the form.
    const refused = await extend(x, id, 'PT1H', { allowUnknownOptions: true });
    expect(refused.offered).toEqual(['PT20M']);
    expect(refused.body).toMatchObject({ response_action: 'errors', errors: { duration: expect.stringContaining('1 hour 30 minutes') } });
    const { extensionId } = await extend(x, id, 'PT20M');
    const ext = extensionId ?? '';
    await x.slack.waitFor(() => x.approvalMessage(ext));
    await x.click(approver1.slack, 'approve', ext);
    await x.click(approver3.slack, 'approve', ext);
    await x.waitForStatus(ext, 'EXTENDED');
    // 1 hour 20 minutes of 1 hour 30: nothing fits any more.
    const dm = await dmWith(x, 'extend', id);
    await x.driver.blockAction(requester.slack, { actionId: 'extend', value: id, message: { channel: dm.channel, ts: dm.ts } });
    await x.slack.waitFor(() => x.slack.ephemerals().find((e) => e.user === requester.slack && (e.text ?? '').includes('reached the 1 hour 30 minutes')));
  });

  it('lets only the holder ask, one extension at a time', async () => {
    const x = await start();
    const id = await active(x);
    const dm = await dmWith(x, 'extend', id);
    await x.driver.blockAction(approver1.slack, { actionId: 'extend', value: id, message: { channel: dm.channel, ts: dm.ts }, force: true });
    await x.slack.waitFor(() => x.slack.ephemerals().find((e) => e.user === approver1.slack && (e.text ?? '').includes('Only the person who holds this access')));
    const first = await extend(x, id, 'PT20M');
    expect(first.extensionId).toMatch(/^req_/);
    await x.driver.blockAction(requester.slack, { actionId: 'extend', value: id, message: { channel: dm.channel, ts: dm.ts } });
    await x.slack.waitFor(() => x.slack.ephemerals().find((e) => e.user === requester.slack && (e.text ?? '').includes('already waiting for approval')));
  });
});

describe('expiry warning', () => {
  it('DMs the requester expiryWarning before the end, in their zone and UTC, with Extend and End access now; again after an extension', async () => {
    const x = await start({ policyExtra: 'expiryWarning: PT5M' });
    const id = await active(x);
    const warnings = () => x.slack.dmsTo(requester.slack).filter((m) => (m.text ?? '').includes('ends *in'));
    x.clock.advance(14 * MINUTE);
    await x.settle();
    await new Promise((r) => setTimeout(r, 1500));
    await x.settle();
    expect(warnings()).toHaveLength(0);
    x.clock.advance(1 * MINUTE + 1000);
    const warning = await eventually(() => warnings()[0], 10_000, () => 'no expiry warning');
    expect(warning.text).toMatch(/ends \*in [45] minutes\*/);
    expect(warning.text).toMatch(/EST \(.* UTC\)/);
    expect(buttonsOf(warning).map((e) => e.action_id)).toEqual(['extend', 'end_access']);
    const { extensionId } = await extend(x, id, 'PT20M');
    const ext = extensionId ?? '';
    await x.slack.waitFor(() => x.approvalMessage(ext));
    await x.click(approver1.slack, 'approve', ext);
    await x.click(approver2.slack, 'approve', ext);
    await x.waitForStatus(ext, 'EXTENDED');
    expect(warnings()).toHaveLength(1);
    x.clock.advance(20 * MINUTE);
    await eventually(() => warnings().length === 2, 10_000, () => 'no warning before the new end');
  });
});
