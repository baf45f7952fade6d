/**
 * The periodic access review driven through the real bot and the real CLI: Identity Center (every
 * permission set, groups expanded) through the SDK against the fake, Slack over signed HTTP,
 * dynalite. A review lists a hand-made, a standing and a granted assignment, flags custodians,
 * and closes only when two distinct reviewers attest.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import { periodBounds, reviewPeriod, type ReviewReport } from '../../src/domain/review.ts';
import { reviewPass } from '../../src/services/review.ts';
import { cli } from '../support/cli.ts';
import { approved } from '../support/plant.ts';
import { ACCOUNT, AUDIT, PEOPLE, eventually, startHarness, type Harness } from '../support/harness.ts';
import type { PostedMessage } from '../support/fake-slack.ts';

let h: Harness | null = null;
afterEach(async () => {
  await h?.stop();
  h = null;
});

const READ_ONLY = 'arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-fedcba9876543210';
const OPS_GROUP = '9067000000-44444444-4444-4444-8444-444444444444';
const ANN_IC = '9067000000-33333333-3333-4333-8333-333333333333';
const GONE = 'UGONE';

/** Parses RFC 4180 CSV (quoted fields, doubled quotes, CRLF). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += ch;
  }
  return rows;
}

describe('the access review', () => {
  it('lists hand-made, standing and granted access, flags custodians, and closes on two distinct attestations', async () => {
    const x = await startHarness({
      icGroups: [{ groupId: OPS_GROUP, displayName: 'ops-admins', members: [ANN_IC] }],
      slackUsers: [{ id: GONE, name: 'gone', email: 'gone@example.com', deleted: true }],
      standingAccess: `standingAccess:\n  - { profile: org-admin, userId: "${PEOPLE.second.principal}" }`,
      policyExtra: `review: { every: P1M, reviewers: { users: [${PEOPLE.approver1.slack}, ${PEOPLE.approver2.slack}], groups: [SAPPROVERS] }, approvals: 2 }
custodians:
  - { item: "Root email inbox", holders: [${PEOPLE.approver1.slack}, ${PEOPLE.approver2.slack}] }
  - { item: "MFA device", holders: [${PEOPLE.approver3.slack}] }
  - { item: "Password vault entry", holders: [${PEOPLE.approver4.slack}, ${GONE}] }`,
    });
    h = x;
    // Standing access listed in the policy, and a group assignment made by hand on another permission set.
    x.ic.addAssignment({ accountId: ACCOUNT, permissionSetArn: 'arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef', principalId: PEOPLE.second.principal });
    x.ic.addPermissionSet({ arn: READ_ONLY, name: 'ReadOnly', provisionedTo: [ACCOUNT] });
    x.ic.addAssignment({ accountId: ACCOUNT, permissionSetArn: READ_ONLY, principalId: OPS_GROUP, principalType: 'GROUP' });
    const grant = await approved(x);
    await x.waitForStatus(grant, 'ACTIVE');

    const started = await cli(x.env, ['review', 'start']);
    expect(started.code, started.err).toBe(0);
    const id = started.out.trim();
    expect(id).toMatch(/^rv-\d{4}-\d{2}-[0-9a-f]{6}$/);

    const reviewMessage = () => x.slack.messages(AUDIT).find((m) => !m.threadTs && JSON.stringify(m.blocks ?? []).includes(`"action_id":"attest"`) && JSON.stringify(m.blocks).includes(id));
    const posted = await x.slack.waitFor(reviewMessage, 5000);
    const shown = JSON.stringify(posted.blocks);
    expect(shown).toMatch(/ReadOnly: GROUP ops-admins \([^)]+\): \*unexplained\*/);
    expect(shown).toMatch(/ReadOnly: USER ann \([^)]+\) through GROUP ops-admins: \*unexplained\*/);
    expect(shown).toMatch(/OrgAdmin: USER sam \([^)]+\): \*standing\*/);
    expect(shown).toMatch(/OrgAdmin: USER rita \([^)]+\): \*grant\*/);
    expect(shown).toMatch(/MFA device: \*single holder\*/);
    expect(shown).toMatch(/Password vault entry: \*single holder\*/);
    expect(shown).toMatch(/Root email inbox: \*ok\*/);
    expect(shown).toContain('0 of 2 attestations');

    // Holders are asked by DM to confirm; a confirmation is recorded once.
    const dm = await x.slack.waitFor(() => x.slack.dmsTo(PEOPLE.approver3.slack).find((m) => JSON.stringify(m.blocks ?? []).includes('custodian_confirm')), 5000);
    expect(JSON.stringify(dm.blocks)).toContain('MFA device');
    await x.slack.waitFor(() => x.slack.dmsTo(PEOPLE.approver4.slack).length > 0, 5000);
    expect(x.slack.dmsTo(GONE)).toHaveLength(0);
    await x.driver.blockAction(PEOPLE.approver3.slack, { actionId: 'custodian_confirm', value: `${id}|1`, message: { channel: dm.channel, ts: dm.ts } });

    const attest = async (user: string, note: string | null): Promise<{ refused: string | null }> => {
      const before = new Set(x.slack.views().map((v) => v.id));
      const ephemerals = x.slack.ephemerals().length;
      const msg = reviewMessage() ?? posted;
      await x.driver.blockAction(user, { actionId: 'attest', value: id, message: { channel: msg.channel, ts: msg.ts }, force: true });
      const outcome = await eventually(() => {
        const view = x.slack.views().find((v) => !before.has(v.id) && v.view?.callback_id === 'breakglass_attest');
        if (view) return { view, said: null };
        const said = x.slack.ephemerals().slice(ephemerals).find((e) => e.user === user);
        return said ? { view: null, said } : undefined;
      }, 5000);
      if (!outcome.view) return { refused: outcome.said?.text ?? '' };
      const sub = await x.driver.viewSubmission(user, outcome.view.id, { note: { note } });
      const errors = (sub.body as { errors?: Record<string, string> } | undefined)?.errors;
      return { refused: errors ? Object.values(errors).join(' ') : null };
    };
    const status = async () => (await cli(x.env, ['review', 'report', '--period', id, '--format', 'json'])).out;

    expect((await attest(PEOPLE.approver1.slack, 'All known; the ops group is being removed')).refused).toBeNull();
    expect(JSON.parse(await status()).completedAt).toBeNull();
    expect((await attest(PEOPLE.approver1.slack, null)).refused).toMatch(/already attested/);
    expect((await attest(PEOPLE.outsider.slack, null)).refused).toMatch(/Only the policy's reviewers/);
    expect(JSON.parse(await status()).completedAt).toBeNull();
    // A reviewer through the Slack user group completes the quorum.
    expect((await attest(PEOPLE.approver3.slack, null)).refused).toBeNull();
    expect(JSON.parse(await status()).completedAt).not.toBeNull();

    const closed = await x.slack.waitFor(() => {
      const m = x.slack.messages(AUDIT).find((p: PostedMessage) => p.ts === posted.ts);
      return m && JSON.stringify(m.blocks).includes('Completed') ? m : undefined;
    }, 5000);
    expect(JSON.stringify(closed.blocks)).not.toContain('"action_id":"attest"');
    const thread = await x.slack.waitFor(() => {
      const t = JSON.stringify(x.slack.thread(AUDIT, posted.ts));
      return t.includes('Review complete') ? t : undefined;
    }, 5000);
    expect(thread).toContain('confirmed they still hold MFA device');
    expect(thread).toContain('attested (1 of 2): All known');

    // The report for auditors: every finding on its own CSV line, the same findings in md and json.
    const json = JSON.parse((await cli(x.env, ['review', 'report', '--period', id, '--format', 'json'])).out) as ReviewReport & { attestations: { reviewer: string; note: string | null }[] };
    expect(json.attestations.map((a) => a.reviewer)).toEqual([PEOPLE.approver1.slack, PEOPLE.approver3.slack]);
    expect(json.attestations[0]?.note).toBe('All known; the ops group is being removed');
    const csv = await cli(x.env, ['review', 'report', '--format', 'csv']);
    expect(csv.code).toBe(0);
    const rows = parseCsv(csv.out);
    expect(rows[0]).toEqual(['review', 'period', 'kind', 'subject', 'status', 'flagged', 'detail']);
    const findingRows = rows.slice(1).filter((r) => r[2] !== 'attestation');
    expect(findingRows.map((r) => [r[2], r[3], r[4]])).toEqual(json.findings.map((f) => [f.kind, f.subject, f.status]));
    expect(rows.filter((r) => r[2] === 'attestation')).toHaveLength(2);
    const kinds = new Set(findingRows.map((r) => r[2]));
    expect([...kinds].sort()).toEqual(['approver', 'assignment', 'custodian', 'requester', 'use']);
    expect(findingRows.find((r) => r[2] === 'use')?.[6]).toContain('Production is down');
    expect(findingRows.find((r) => r[3]?.includes('Password vault'))?.[5]).toBe('yes');
    expect(findingRows.find((r) => r[3]?.startsWith(`org-admin: gone`))).toBeUndefined();
    const md = (await cli(x.env, ['review', 'report', '--period', id])).out;
    for (const f of json.findings) expect(md).toContain(f.subject.replace(/\|/g, '\\|'));

    // Attestations and refusals are in the audit record.
    const chain = (await cli(x.env, ['audit', 'export'])).out.trim().split('\n').map((l) => JSON.parse(l) as { type: string; details: { reviewId?: string } });
    const ofReview = chain.filter((r) => r.details.reviewId === id).map((r) => r.type);
    expect(ofReview.filter((t) => t === 'review.attested')).toHaveLength(2);
    expect(ofReview.filter((t) => t === 'attempt.rejected')).toHaveLength(2);
    expect(ofReview).toContain('review.started');
    expect(ofReview).toContain('review.completed');
    expect(ofReview).toContain('custodian.confirmed');
  }, 60_000);

  it('starts each period\'s review once across replicas, reminds the reviewers daily and shouts an overdue review once', async () => {
    const x = await startHarness({ policyExtra: `review: { every: P1M, reviewers: { users: [${PEOPLE.approver1.slack}, ${PEOPLE.approver2.slack}], groups: [SAPPROVERS] } }` });
    h = x;
    const d = x.bot.review;
    // Reviews were just configured: the first scheduled one is at the start of the next period.
    await x.bot.reviews.pass();
    await reviewPass(d);
    expect(await d.reviews.latest(5)).toHaveLength(0);
    const none = await cli(x.env, ['review', 'report']);
    expect([none.code, none.out]).toEqual([1, '']);
    expect(none.err).toContain('no access review');
    expect((await cli(x.env, ['review', 'report', '--format', 'xml'])).code).toBe(2);

    x.clock.advance(DateTime.fromISO(periodBounds('P1M', x.clock.now()).next).toMillis() - x.clock.ms() + 3_600_000);
    // Two replicas at once: one review, posted once.
    await Promise.all([reviewPass(d), reviewPass(d), reviewPass(d)]);
    const label = reviewPeriod('P1M', x.clock.now()).label;
    const stored = await d.reviews.latest(5);
    expect(stored.map((r) => r.id)).toEqual([`rv-${label}`]);
    const posted = await x.slack.waitFor(() => x.slack.messages(AUDIT).find((m) => !m.threadTs && JSON.stringify(m.blocks ?? []).includes(`"value":"rv-${label}"`)), 5000);
    await reviewPass(d);
    await x.settle();
    expect(x.slack.messages(AUDIT).filter((m) => !m.threadTs && JSON.stringify(m.blocks ?? []).includes(`"value":"rv-${label}"`))).toHaveLength(1);

    const reminders = () => x.slack.thread(AUDIT, posted.ts).filter((m) => (m.text ?? '').startsWith('Reminder'));
    expect(reminders()).toHaveLength(0);
    x.clock.advance(24 * 3_600_000 + 60_000);
    await Promise.all([reviewPass(d), reviewPass(d)]);
    const first = await x.slack.waitFor(() => reminders()[0], 5000);
    expect(first.text).toContain(`<@${PEOPLE.approver1.slack}>, <@${PEOPLE.approver2.slack}>, <@${PEOPLE.approver3.slack}>, <@${PEOPLE.approver4.slack}>`);
    await x.settle();
    expect(reminders()).toHaveLength(1);

    const overdue = () => x.slack.messages(AUDIT).filter((m) => !m.threadTs && (m.text ?? '').includes(`rv-${label}\` is overdue`));
    x.clock.advance(7 * 24 * 3_600_000);
    await Promise.all([reviewPass(d), reviewPass(d)]);
    await x.slack.waitFor(() => overdue()[0], 5000);
    await reviewPass(d);
    await x.settle();
    expect(overdue()).toHaveLength(1);
  }, 60_000);
});
