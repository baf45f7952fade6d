/**
 * The time box holds: when access ends, the sessions it issued stop working (issue 10). Driven
 * through the real bot against the fake Identity Center, which issues role sessions and answers
 * whether the inline policy in force in the account still lets them act.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { denySid, parsePolicy } from '../../src/domain/session-policy.ts';
import { cli } from '../support/cli.ts';
import { approved } from '../support/plant.ts';
import { ACCOUNT, AUDIT, INSTANCE_ARN, PEOPLE, PERMISSION_SET, eventually, startHarness, type Harness, type HarnessOptions } from '../support/harness.ts';

let h: Harness | null = null;
afterEach(async () => {
  await h?.stop();
  h = null;
});

async function start(o: HarnessOptions = {}): Promise<Harness> {
  h = await startHarness({ durations: ['PT20S', 'PT1H'], ...o });
  return h;
}

async function active(x: Harness, user: string = PEOPLE.requester.slack, duration = 'PT1H'): Promise<string> {
  const id = await approved(x, user, duration);
  await x.waitForStatus(id, 'ACTIVE');
  return id;
}

const session = (x: Harness, principal: string = PEOPLE.requester.principal) => x.ic.issueSession({ userId: principal, permissionSetArn: PERMISSION_SET, accountId: ACCOUNT }).sessionId;

/** The inline policy as the fake holds it, parsed. */
async function inline(x: Harness) {
  return parsePolicy(await x.bot.ctx.ic.inlinePolicy(INSTANCE_ARN, PERMISSION_SET));
}

/** What a revoke must leave: the user's sessions refused, a statement of ours at or after the deletion, provisioned to the profile's account only. */
async function expectSessionsEnded(x: Harness, id: string, sessionId: string, principal: string = PEOPLE.requester.principal): Promise<void> {
  const r = await x.waitForStatus(id, 'REVOKED', 20_000);
  expect(r.revoke?.sessions).toMatchObject({ state: 'ended' });
  expect(x.ic.sessionAllowed(sessionId)).toBe(false);
  expect(x.ic.unsupportedConditions()).toEqual([]);
  const statement = (await inline(x)).Statement.find((s) => s.Sid === denySid(principal));
  expect(statement).toMatchObject({ Effect: 'Deny', Action: '*', Resource: '*', Condition: { StringEquals: { 'identitystore:userId': principal } } });
  const instant = (statement?.Condition as { DateLessThan: { 'aws:TokenIssueTime': string } }).DateLessThan['aws:TokenIssueTime'];
  const deletion = x.ic.callsTo('DeleteAccountAssignment').filter((c) => c.status === 200 && c.input.PrincipalId === principal).at(-1);
  expect(Date.parse(instant)).toBeGreaterThanOrEqual(deletion?.at ?? Infinity);
  const provisionings = x.ic.provisionings();
  expect(provisionings.length).toBeGreaterThan(0);
  expect(provisionings.every((p) => p.targetType === 'AWS_ACCOUNT' && p.accounts.length === 1 && p.accounts[0] === ACCOUNT)).toBe(true);
  // Events the CLI recorded reach Slack at the bot's next delivery pass.
  await x.slack.waitFor(() => x.slack.messages(AUDIT).find((m) => (m.text ?? '').startsWith('Sessions ended')), 5000);
}

describe('ending the sessions a grant issued', () => {
  it('at expiry: a session opened during the grant stops working, a new grant afterwards opens new ones, and the requester is told', async () => {
    const x = await start();
    const id = await active(x, PEOPLE.requester.slack, 'PT20S');
    const during = session(x);
    expect(x.ic.sessionAllowed(during)).toBe(true);
    x.clock.advance(20_000);
    await expectSessionsEnded(x, id, during);
    await x.slack.waitFor(() => x.slack.dmsTo(PEOPLE.requester.slack).find((m) => (m.text ?? '').includes('the sessions it opened were ended too')));

    // Only sessions issued before the revoke are denied: the same person can be granted again at once.
    x.clock.advance(1000);
    const again = await active(x);
    const after = session(x);
    expect(x.ic.sessionAllowed(after)).toBe(true);
    expect(x.ic.sessionAllowed(during)).toBe(false);
    expect((await x.get(again)).status).toBe('ACTIVE');
  });

  it('on End access now, keeping a statement the permission set already had exactly as it was', async () => {
    const x = await start();
    const own = { Sid: 'CustomerGuardrail', Effect: 'Deny', Action: ['organizations:LeaveOrganization'], Resource: '*' };
    await x.bot.ctx.ic.putInlinePolicy(INSTANCE_ARN, PERMISSION_SET, JSON.stringify({ Version: '2012-10-17', Statement: [own] }));
    const id = await active(x);
    const open = session(x);
    await x.click(PEOPLE.requester.slack, 'end_access', id);
    await expectSessionsEnded(x, id, open);
    expect((await inline(x)).Statement.filter((s) => s.Sid === 'CustomerGuardrail')).toEqual([own]);
  });

  it('on revoke-all', async () => {
    const x = await start();
    const id = await active(x);
    const open = session(x);
    expect((await cli(x.env, ['revoke-all', '--reason', 'drill'])).code).toBe(0);
    await expectSessionsEnded(x, id, open);
  });

  it('on an approver\'s Revoke of drifted access', async () => {
    const x = await start({ driftSeconds: 1 });
    x.ic.addAssignment({ accountId: ACCOUNT, permissionSetArn: PERMISSION_SET, principalId: PEOPLE.second.principal });
    const open = session(x, PEOPLE.second.principal);
    const alert = await x.slack.waitFor(() => x.slack.messages(AUDIT).find((m) => (m.text ?? '').startsWith(':warning: Drift')), 5000);
    const driftId = /"value":"([^"]+)"/.exec(JSON.stringify(alert.blocks))?.[1] ?? '';
    await x.driver.blockAction(PEOPLE.approver2.slack, { actionId: 'drift_revoke', value: driftId, message: { channel: alert.channel, ts: alert.ts } });
    await eventually(() => !x.ic.sessionAllowed(open), 10_000, () => 'the drifted user\'s session still works');
    await x.slack.waitFor(() => x.slack.messages(AUDIT).find((m) => (m.text ?? '').includes('Sessions ended.')), 5000);
    expect((await inline(x)).Statement.some((s) => s.Sid === denySid(PEOPLE.second.principal))).toBe(true);
  });

  it('does not end sessions while another grant keeps the assignment, and says so', async () => {
    const x = await start();
    const first = await active(x);
    const second = await active(x);
    const open = session(x);
    await x.click(PEOPLE.requester.slack, 'end_access', first);
    const r = await x.waitForStatus(first, 'REVOKED');
    expect(r.revoke?.sessions).toMatchObject({ state: 'kept' });
    expect(x.ic.sessionAllowed(open)).toBe(true);
    expect(x.ic.provisionings()).toHaveLength(0);
    await x.settle();
    expect(JSON.stringify(x.slack.messages(AUDIT))).toContain('so open sessions are not ended');
    expect((await x.get(second)).status).toBe('ACTIVE');
  });

  it('leaves sessions alone for a profile with endSessions: false, and tells the requester they last', async () => {
    const x = await start({ endSessions: false });
    const id = await active(x);
    const open = session(x);
    await x.click(PEOPLE.requester.slack, 'end_access', id);
    const r = await x.waitForStatus(id, 'REVOKED');
    expect(r.revoke?.sessions).toMatchObject({ state: 'kept', why: expect.stringContaining('endSessions: false') });
    expect(x.ic.sessionAllowed(open)).toBe(true);
    await x.slack.waitFor(() => x.slack.dmsTo(PEOPLE.requester.slack).find((m) => (m.text ?? '').includes('were not ended')));
  });

  it('lands both statements when two users\' access ends at once, and removes each once the session duration has passed, never earlier', async () => {
    const x = await start();
    const a = await active(x, PEOPLE.requester.slack);
    const b = await active(x, PEOPLE.second.slack);
    const openA = session(x, PEOPLE.requester.principal);
    const openB = session(x, PEOPLE.second.principal);
    await Promise.all([x.click(PEOPLE.requester.slack, 'end_access', a), x.click(PEOPLE.second.slack, 'end_access', b)]);
    await x.waitForStatus(a, 'REVOKED', 20_000);
    await x.waitForStatus(b, 'REVOKED', 20_000);
    expect(x.ic.sessionAllowed(openA)).toBe(false);
    expect(x.ic.sessionAllowed(openB)).toBe(false);
    const ours = (await inline(x)).Statement.filter((s) => s.Sid?.startsWith('BreakglassRevoked')).map((s) => s.Sid);
    expect(ours.sort()).toEqual([denySid(PEOPLE.requester.principal), denySid(PEOPLE.second.principal)].sort());

    // Just before the session duration (PT1H) has passed: still there.
    const provisioned = x.ic.provisionings().length;
    x.clock.advance(59 * 60_000);
    await new Promise((r) => setTimeout(r, 2500));
    expect((await inline(x)).Statement.filter((s) => s.Sid?.startsWith('BreakglassRevoked'))).toHaveLength(2);
    // After it: both go, and the permission set is provisioned again.
    x.clock.advance(2 * 60_000);
    await eventually(async () => (await x.bot.ctx.ic.inlinePolicy(INSTANCE_ARN, PERMISSION_SET)) === '', 10_000, () => 'the expired statements are still there');
    await eventually(() => x.ic.provisionings().length > provisioned, 5000, () => `no provisioning after the removal: ${JSON.stringify(x.ic.provisionings())} ${x.logs.filter((l) => /sessions|lock/.test(l)).slice(-5).join(' | ')}`);
  });
});
