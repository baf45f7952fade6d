/**
 * The kill switch (revoke-all, unfreeze) driven through the real bot and the real CLI: signed
 * Slack requests, the fake Identity Center through the real SDK, dynalite.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { addDuration } from '../../src/domain/duration.ts';
import { cli } from '../support/cli.ts';
import { approved, hasAssignment, plantRecord, stored } from '../support/plant.ts';
import { ACCOUNT, AUDIT, PEOPLE, PERMISSION_SET, startHarness, type Harness, type HarnessOptions } from '../support/harness.ts';

let h: Harness | null = null;
let stopped = false;
afterEach(async () => {
  if (h && stopped) {
    await h.slack.close();
    await h.ic.close();
    await h.db.close();
  } else await h?.stop();
  h = null;
  stopped = false;
});

async function start(o: HarnessOptions = {}): Promise<Harness> {
  h = await startHarness({ durations: ['PT20S', 'PT1H'], ...o });
  return h;
}


describe('the kill switch', () => {
  it('freezes breakglass, cancels undecided requests, revokes grants, and says who froze it until unfreeze', async () => {
    const x = await start();
    const active = await approved(x);
    await x.waitForStatus(active, 'ACTIVE');
    const { requestId: pendingId } = await x.request(PEOPLE.second.slack);
    const pending = pendingId ?? '';
    await x.slack.waitFor(() => x.approvalMessage(pending), 5000);
    const now = new Date().toISOString();
    const approvals = [{ slackUserId: PEOPLE.approver1.slack, at: now }, { slackUserId: PEOPLE.approver2.slack, at: now }];
    // Approved and about to be granted (not due for another minute).
    await x.bot.ctx.requests.create(stored('req_next', 'APPROVED', { approvals }), [], addDuration(now, 'PT1M'));

    const run = await cli(x.env, ['revoke-all', '--reason', 'token leak']);
    expect(run.code).toBe(0);
    expect(x.ic.assignments()).toHaveLength(0);
    expect((await x.get(active)).status).toBe('REVOKED');
    expect((await x.get(pending)).status).toBe('CANCELLED');
    expect((await x.get('req_next')).status).toBe('CANCELLED');

    const refused = await x.request(PEOPLE.requester.slack);
    expect(refused.requestId).toBeNull();
    expect(JSON.stringify(refused.body)).toMatch(/frozen: .* ran revoke-all .*token leak/);

    expect((await cli(x.env, ['unfreeze'])).code).toBe(2);
    expect((await cli(x.env, ['unfreeze', '--reason', 'keys rotated'])).code).toBe(0);
    const again = await x.request(PEOPLE.requester.slack);
    expect(again.requestId).not.toBeNull();
    // What the CLI recorded reaches Slack at the bot's next delivery pass.
    const alerts = () => JSON.stringify(x.slack.messages(AUDIT).filter((m) => !m.threadTs));
    await x.slack.waitFor(() => alerts().includes('breakglass is unfrozen by operator'), 5000);
    expect(alerts()).toContain('breakglass is frozen by operator');
    const chain = (await cli(x.env, ['audit', 'export'])).out;
    expect(chain).toContain('"type":"freeze.set"');
    expect(chain).toContain('"type":"freeze.lifted"');
  });

  it('refuses approvals while frozen', async () => {
    const x = await start();
    const { requestId } = await x.request(PEOPLE.requester.slack);
    const id = requestId ?? '';
    await x.slack.waitFor(() => x.approvalMessage(id), 5000);
    await x.bot.ctx.freeze.set({ by: 'ops', reason: 'incident', at: new Date().toISOString() }, { type: 'freeze.set', requestId: null, actor: null, details: { operator: 'ops', reason: 'incident' } });
    await x.click(PEOPLE.approver1.slack, 'approve', id);
    await x.slack.waitFor(() => x.slack.ephemerals().find((e) => e.user === PEOPLE.approver1.slack && (e.text ?? '').includes('frozen')));
    expect((await x.get(id)).approvals).toHaveLength(0);
  });

  it('cleans up a creation that was never confirmed, with the bot stopped, and exits 0 only once Identity Center holds nothing', async () => {
    const x = await start();
    const asked = new Date(Date.now() - 60_000).toISOString();
    // A grant that timed out; its creation landed after all.
    x.ic.addAssignment({ accountId: ACCOUNT, permissionSetArn: PERMISSION_SET, principalId: PEOPLE.requester.principal });
    await plantRecord(x, { holders: [], heldBefore: null, creating: 'req_unconfirmed' });
    const grant = { ...stored('x', 'FAILED').grant, startedAt: asked, creationAttemptedAt: asked, failure: 'not confirmed in time', cleanupPending: true };
    await x.bot.ctx.requests.create(stored('req_unconfirmed', 'FAILED', { grant }), [], addDuration(new Date().toISOString(), 'PT1H'));
    await x.bot.stop();
    stopped = true;
    const run = await cli(x.env, ['revoke-all', '--reason', 'host compromised']);
    expect(run.code).toBe(0);
    expect(x.ic.assignments()).toHaveLength(0);
  });

  it('exits 1 naming what Identity Center still holds when a deletion keeps failing', async () => {
    const x = await start();
    const id = await approved(x);
    await x.waitForStatus(id, 'ACTIVE');
    x.ic.failNextDeletions(1000);
    const run = await cli(x.env, ['revoke-all', '--reason', 'drill', '--wait', '3']);
    expect(run.code).toBe(1);
    expect(run.err).toContain('not settled');
    expect(hasAssignment(x)).toBe(true);
  });
});
