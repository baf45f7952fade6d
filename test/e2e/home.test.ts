import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, PEOPLE, startHarness, type Harness } from '../support/harness.ts';

/**
 * The App Home, through the real Bolt app against the fake Slack: what each person is shown,
 * that every click from it is checked by the server and answered on the home, and that homes
 * follow changes for the people who opened theirs. Requester and refresh over signed HTTP;
 * approver and outsider over Socket Mode.
 */
const { requester: rita, approver1: ann, approver2: bob, approver3: cat, approver4: dan, outsider: olly } = PEOPLE;

type Element = { action_id?: string; value?: string; text?: { text?: string } };
type Block = { type: string; block_id?: string; elements?: Element[]; accessory?: Element };

function home(h: Harness, user: string): { id: string; blocks: Block[]; text: string } | undefined {
  const v = h.slack.homeView(user);
  if (!v) return undefined;
  const blocks = (v.view.blocks ?? []) as Block[];
  return { id: v.id, blocks, text: JSON.stringify(blocks) };
}

/** Every button on the home: [action_id, value, label]. */
const buttonsOf = (blocks: Block[]) =>
  blocks.flatMap((b) => [...(b.elements ?? []), ...(b.accessory ? [b.accessory] : [])]).filter((e) => e.action_id).map((e) => [e.action_id, e.value ?? null, e.text?.text]);

/** Opens the person's home and waits until it is published and shows `fragment`. */
async function open(h: Harness, user: string, fragment = 'How breakglass works') {
  const before = h.slack.homeView(user)?.view.hash as string | undefined;
  const out = await h.driver.appHomeOpened(user);
  expect(out.status).toBe(200);
  return h.slack.waitFor(() => {
    const v = home(h, user);
    return v && h.slack.homeView(user)?.view.hash !== before && v.text.includes(fragment) ? v : undefined;
  }, 5000);
}

/** Waits until the person's home (already published) shows `fragment`, without them opening it again. */
const shows = (h: Harness, user: string, fragment: string, timeoutMs = 8000) =>
  h.slack.waitFor(() => {
    const v = home(h, user);
    return v?.text.includes(fragment) ? v : undefined;
  }, timeoutMs);

async function pending(h: Harness, duration = 'PT1H'): Promise<string> {
  const { requestId, body } = await h.request(rita.slack, { duration });
  if (!requestId) throw new Error(`request was not stored: ${JSON.stringify(body)}`);
  await h.slack.waitFor(() => h.approvalMessage(requestId));
  return requestId;
}

async function active(h: Harness): Promise<string> {
  const id = await pending(h);
  await h.click(ann.slack, 'approve', id);
  await h.click(bob.slack, 'approve', id);
  await h.waitForStatus(id, 'ACTIVE');
  return id;
}

const publishesTo = (h: Harness, user: string) => h.slack.calls.filter((c) => c.method === 'views.publish' && c.args.user_id === user);

describe('App Home over signed HTTP', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ transport: 'http' });
  });
  afterAll(async () => {
    await h.stop();
  });

  it('shows a requester their open request, their access with Extend and End access now, and their last requests; Request access opens the form', async () => {
    const on = await active(h);
    const cancelled = await pending(h);
    await h.driver.slashCommand(rita.slack, `cancel ${cancelled}`);
    await h.waitForStatus(cancelled, 'CANCELLED');
    const waiting = await pending(h);
    await h.click(ann.slack, 'approve', waiting);
    await eventually(async () => (await h.get(waiting)).approvals.length === 1);

    const mine = await open(h, rita.slack, waiting);
    expect(buttonsOf(mine.blocks)).toEqual([
      ['request_access', null, 'Request access'],
      ['extend', on, 'Extend'],
      ['end_access', on, 'End access now'],
    ]);
    const access = mine.blocks.find((b) => b.block_id === `own:${on}`);
    expect(access).toBeDefined();
    // Waiting: who approved so far, and until when it may be approved, in rita's zone and UTC, and from now.
    expect(mine.text).toContain(`1 of 2 approvals: <@${ann.slack}>`);
    expect(mine.text).toMatch(/Expires [^"]* E[SD]T \([^)]* UTC\), in (59 minutes|1 hour) unless approved/);
    expect(mine.text).toMatch(/Access active until [^"]* E[SD]T \([^)]* UTC\), in \d+ minutes/);
    // History: all three, the cancelled one as cancelled.
    for (const id of [on, cancelled, waiting]) expect(mine.text).toContain(`\`${id}\``);
    expect(mine.text).toMatch(new RegExp(`Cancelled by the requester[^"]*\`${cancelled}\``));
    expect(mine.text).toContain('2 approvals (never your own); up to 1 hour');

    const modalsBefore = h.slack.openModals(rita.slack).length;
    await h.driver.blockAction(rita.slack, { viewId: mine.id, actionId: 'request_access' });
    const form = await h.slack.waitFor(() => h.slack.openModals(rita.slack).slice(modalsBefore).find((v) => v.view.callback_id === 'breakglass_request'));
    expect(JSON.stringify(form.view.blocks)).toContain('"value":"org-admin"');

    // Extend, from the home: the extension form opens for that grant.
    await h.driver.blockAction(rita.slack, { viewId: mine.id, actionId: 'extend', blockId: `own:${on}` });
    const extendForm = await h.slack.waitFor(() => h.slack.openModals(rita.slack).find((v) => v.view.callback_id === 'breakglass_extend'));
    expect(extendForm.view.private_metadata).toContain(on);

    // End access now, from the home: the access ends, and the home says so at its top.
    await h.driver.blockAction(rita.slack, { viewId: mine.id, actionId: 'end_access', blockId: `own:${on}` });
    await h.waitForStatus(on, 'REVOKED');
    const after = await shows(h, rita.slack, 'Ending access now');
    expect(after.text.indexOf('Ending access now')).toBeLessThan(after.text.indexOf('"text":"breakglass"'));
    await h.settle();
    expect(buttonsOf(home(h, rita.slack)?.blocks ?? []).map((b) => b[0])).toEqual(['request_access']);
  });

  it('follows changes for people who opened their home, and publishes nothing for those who never did', async () => {
    await open(h, ann.slack);
    await open(h, rita.slack);
    expect(publishesTo(h, bob.slack)).toEqual([]);
    const id = await pending(h);
    // Neither opens their home again: the change reaches both.
    await shows(h, ann.slack, `decide:${id}`);
    await shows(h, rita.slack, `${id}\` (withdraw`);
    await h.click(cat.slack, 'approve', id);
    await shows(h, ann.slack, `1 of 2 approvals: <@${cat.slack}>`);
    await h.settle();
    // bob approves this profile too, but never opened the home: nothing is published for him.
    await h.click(bob.slack, 'approve', id);
    await h.waitForStatus(id, 'ACTIVE');
    await shows(h, rita.slack, `own:${id}`);
    await shows(h, ann.slack, `revoke:${id}`);
    await h.settle();
    expect(publishesTo(h, bob.slack)).toEqual([]);
    expect(h.slack.homeView(bob.slack)).toBeUndefined();
  });
});

describe('App Home over Socket Mode', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ transport: 'socket' });
  });
  afterAll(async () => {
    await h.stop();
  });

  it('gives an approver Approve and Deny on what waits for them and Revoke on active access; a click there counts and is answered there', async () => {
    const granted = await active(h);
    const id = await pending(h);
    const cats = await open(h, cat.slack, `decide:${id}`);
    expect(buttonsOf(cats.blocks)).toEqual([
      ['approve', id, 'Approve'],
      ['deny', id, 'Deny'],
      ['end_access', granted, 'Revoke'],
    ]);

    await h.driver.blockAction(cat.slack, { viewId: cats.id, actionId: 'approve', blockId: `decide:${id}` });
    const told = await shows(h, cat.slack, 'Approved: 1 of 2 approvals so far.');
    expect((await h.get(id)).approvals.map((a) => a.slackUserId)).toEqual([cat.slack]);
    expect(told.text).not.toContain(`decide:${id}`);
    expect(h.slack.ephemerals().filter((e) => e.user === cat.slack)).toEqual([]);

    // Deny from the home opens the reason form; the denial is told on the home.
    const dans = await open(h, dan.slack, `decide:${id}`);
    await h.driver.blockAction(dan.slack, { viewId: dans.id, actionId: 'deny', blockId: `decide:${id}` });
    const form = await h.slack.waitFor(() => h.slack.openModals(dan.slack).find((v) => v.view.callback_id === 'breakglass_deny'));
    const submitted = await h.driver.viewSubmission(dan.slack, form.id, { reason: { reason: 'Use the read-only role' } });
    expect(submitted.body).toBeUndefined();
    expect((await h.waitForStatus(id, 'DENIED')).decision).toMatchObject({ by: dan.slack, reason: 'Use the read-only role' });
    await shows(h, dan.slack, 'Denied. The requester has been told why.');

    // Revoke from the home.
    const now = await open(h, cat.slack, `revoke:${granted}`);
    await h.driver.blockAction(cat.slack, { viewId: now.id, actionId: 'end_access', blockId: `revoke:${granted}` });
    await h.waitForStatus(granted, 'REVOKED');
    expect((await h.get(granted)).revoke).toMatchObject({ reason: 'ended', by: cat.slack });
    await shows(h, cat.slack, 'Ending access now');
  });

  it('offers an outsider no button, and refuses their forged clicks from the home on the server', async () => {
    const granted = await active(h);
    const id = await pending(h);
    const theirs = await open(h, olly.slack);
    expect(buttonsOf(theirs.blocks)).toEqual([]);
    expect(theirs.text).toContain('You may not request access');
    expect(theirs.text).not.toContain(id);

    await h.driver.blockAction(olly.slack, { viewId: theirs.id, actionId: 'approve', value: id, force: true });
    await shows(h, olly.slack, 'You are not an approver for this request');
    expect((await h.get(id)).approvals).toEqual([]);

    await h.driver.blockAction(olly.slack, { viewId: theirs.id, actionId: 'end_access', value: granted, force: true });
    await shows(h, olly.slack, 'Only the requester or an approver can end this access.');
    expect((await h.get(granted)).status).toBe('ACTIVE');

    await h.driver.blockAction(olly.slack, { viewId: theirs.id, actionId: 'request_access', force: true });
    await shows(h, olly.slack, 'You may not request any breakglass profile');
    expect(h.slack.openModals(olly.slack)).toEqual([]);

    await h.settle();
    expect((await h.get(id)).status).toBe('PENDING');
    const refused = h.logs.filter((l) => l.includes('"attempt.rejected"') && l.includes(olly.slack));
    expect(refused.length).toBeGreaterThanOrEqual(2);
  });
});
