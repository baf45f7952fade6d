import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/events.ts';
import { auditReply } from '../../src/slack/blocks/messages.ts';
import { cli } from '../support/cli.ts';
import { AUDIT, PEOPLE, startHarness, type Harness } from '../support/harness.ts';

let h: Harness | null = null;
afterEach(async () => {
  await h?.stop();
  h = null;
});

const bg = (x: Harness, args: string[]) => cli(x.env, args);

async function fullLifecycle(x: Harness): Promise<string> {
  const { requestId } = await x.request(PEOPLE.requester.slack, { duration: 'PT2S' });
  const id = requestId ?? '';
  await x.slack.waitFor(() => x.approvalMessage(id), 10_000);
  await x.click(PEOPLE.approver1.slack, 'approve', id);
  await x.click(PEOPLE.approver2.slack, 'approve', id);
  await x.waitForStatus(id, 'REVOKED', 30_000);
  return id;
}

/** What the audit thread of a request must hold: one reply per chained event, in chain order. */
async function expectThreadMatchesChain(x: Harness, id: string): Promise<void> {
  const exported = await bg(x, ['audit', 'export']);
  const events = exported.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AuditEvent)
    .filter((e) => e.requestId === id);
  const parent = x.slack.messages(AUDIT).filter((m) => !m.threadTs && JSON.stringify(m.blocks).includes(id));
  expect(parent).toHaveLength(1);
  const replies = x.slack.thread(AUDIT, parent[0]?.ts ?? '').map((m) => m.text);
  expect(replies).toEqual(events.map((e) => auditReply(e)));
}

describe('the verifiable audit record', () => {
  it('exports every event with every field, verifies, and names the first tampered record', async () => {
    h = await startHarness({ durations: ['PT2S'] });
    const x = h;
    const id = await fullLifecycle(x);
    await x.settle();
    const exported = await bg(x, ['audit', 'export']);
    expect(exported.code).toBe(0);
    const lines = exported.out.trim().split('\n');
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const r of records) expect(Object.keys(r)).toEqual(['seq', 'at', 'type', 'requestId', 'actor', 'details', 'eventId', 'prevHash', 'hash']);
    expect(records.map((r) => r.type)).toEqual(
      expect.arrayContaining(['config.loaded', 'request.submitted', 'approval.given', 'request.approved', 'grant.started', 'grant.succeeded', 'revoke.started', 'revoke.succeeded']),
    );
    expect(records.find((r) => r.type === 'config.loaded')?.requestId).toBeNull();
    expect(records.find((r) => r.type === 'request.submitted')).toMatchObject({ requestId: id, actor: { slackUserId: PEOPLE.requester.slack, principalId: PEOPLE.requester.principal } });
    expect((await bg(x, ['audit', 'verify'])).code).toBe(0);

    const dir = mkdtempSync(join(tmpdir(), 'bg-audit-'));
    const file = (name: string, content: string[]) => {
      const p = join(dir, name);
      writeFileSync(p, `${content.join('\n')}\n`);
      return p;
    };
    const good = file('good.jsonl', lines);
    expect((await bg(x, ['audit', 'verify', '--file', good])).code).toBe(0);
    // Reformatting (key order, spacing) does not matter.
    const pretty = file('pretty.jsonl', records.map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).reverse()))));
    expect((await bg(x, ['audit', 'verify', '--file', pretty])).code).toBe(0);

    const altered = records.map((r) => ({ ...r }));
    (altered[3] as { details: Record<string, unknown> }).details = { ...(altered[3]?.details as object), injected: true };
    const alteredRun = await bg(x, ['audit', 'verify', '--file', file('altered.jsonl', altered.map((r) => JSON.stringify(r)))]);
    expect(alteredRun.code).toBe(1);
    expect(alteredRun.err).toContain('record seq 4');
    expect(alteredRun.err).toContain('altered');

    const missing = await bg(x, ['audit', 'verify', '--file', file('missing.jsonl', lines.filter((_, i) => i !== 2))]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('record 3 is missing');

    const swapped = [...lines];
    [swapped[4], swapped[5]] = [swapped[5] ?? '', swapped[4] ?? ''];
    const swappedRun = await bg(x, ['audit', 'verify', '--file', file('swapped.jsonl', swapped)]);
    expect(swappedRun.code).toBe(1);
    expect(swappedRun.err).toMatch(/record seq 6|record 5 is missing/);

    const rehashed = records.map((r) => ({ ...r }));
    (rehashed[1] as { at: string }).at = '2020-01-01T00:00:00.000Z';
    const rehashedRun = await bg(x, ['audit', 'verify', '--file', file('at.jsonl', rehashed.map((r) => JSON.stringify(r)))]);
    expect(rehashedRun.err).toContain('record seq 2');

    const csv = await bg(x, ['audit', 'export', '--format', 'csv']);
    expect(csv.out.split('\n')[0]).toBe('seq,at,type,requestId,actor,details,eventId,prevHash,hash');
    expect((await bg(x, ['audit', 'verify', '--file', file('export.csv', csv.out.trim().split('\n'))])).code).toBe(0);
    const since = await bg(x, ['audit', 'export', '--since', String(records[2]?.at)]);
    expect(since.out.trim().split('\n').length).toBeLessThan(lines.length);
    expect((await bg(x, ['audit', 'export', '--since', 'yesterday'])).code).toBe(2);
    expect(readFileSync(good, 'utf8')).toContain('"prevHash"');
  });

  it('loses and doubles nothing while Slack fails, and keeps the request modal instant', async () => {
    h = await startHarness({ durations: ['PT2S'] });
    const x = h;
    const { requestId } = await x.request(PEOPLE.requester.slack, { duration: 'PT2S' });
    const id = requestId ?? '';
    await x.slack.waitFor(() => x.approvalMessage(id), 10_000);
    await x.settle();
    x.slack.failMethod('chat.postMessage', { error: 'internal_error', forMs: 5000 });
    await x.click(PEOPLE.approver1.slack, 'approve', id);
    const during = await x.driver.slashCommand(PEOPLE.second.slack, '');
    expect(during.status).toBe(200);
    // This command's own trigger: the fake refuses triggers older than 3 s.
    const opened = await x.slack.waitFor(() => x.slack.callsTo('views.open').find((c) => c.args.trigger_id === during.triggerId));
    expect(opened).toMatchObject({ ok: true });
    await x.click(PEOPLE.approver2.slack, 'approve', id);
    await x.waitForStatus(id, 'REVOKED', 30_000);
    expect(x.slack.callsTo('chat.postMessage').some((c) => !c.ok)).toBe(true);
    await eventuallyDelivered(x);
    await expectThreadMatchesChain(x, id);
  });

  it('honours Retry-After when Slack rate-limits the audit feed', async () => {
    h = await startHarness({ durations: ['PT2S'] });
    const x = h;
    await x.settle();
    x.slack.failMethod('chat.postMessage', { rateLimited: true, retryAfterSeconds: 2, count: 1 });
    const id = await fullLifecycle(x);
    const posts = x.slack.callsTo('chat.postMessage');
    const limited = posts.findIndex((c) => !c.ok);
    expect(limited).toBeGreaterThanOrEqual(0);
    expect((posts[limited + 1]?.at ?? Infinity) - (posts[limited]?.at ?? 0)).toBeGreaterThanOrEqual(1900);
    await x.settle();
    await eventuallyDelivered(x);
    await expectThreadMatchesChain(x, id);
  });
});

async function eventuallyDelivered(x: Harness): Promise<void> {
  // Delivery resumes by itself (the publisher's own timer); this only waits for it.
  for (let i = 0; i < 300; i++) {
    await x.settle();
    if ((await x.bot.ctx.outbox.pending('2100-01-01T00:00:00.000Z')).length === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('outbox never drained');
}
