import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { recordHash, type ChainRecord } from '../../src/audit/chain.ts';
import type { DomainEvent } from '../../src/domain/events.ts';
import { checkpointKey } from '../../src/audit/checkpoint-archive.ts';
import { CheckpointStore } from '../../src/store/checkpoints.ts';
import { auditKey, seqKey } from '../../src/store/keys.ts';
import { auditReply } from '../../src/slack/blocks/messages.ts';
import { cli } from '../support/cli.ts';
import { AUDIT, CHECKPOINT_BUCKET, PEOPLE, startHarness, type Harness } from '../support/harness.ts';

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
  await x.waitForStatus(id, 'ACTIVE', 15_000);
  x.clock.advance(2_000);
  await x.waitForStatus(id, 'REVOKED', 30_000);
  return id;
}

/** What the audit thread of a request must hold: one reply per chained event, in chain order. */
async function expectThreadMatchesChain(x: Harness, id: string): Promise<void> {
  const exported = await bg(x, ['audit', 'export']);
  const events = exported.out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as DomainEvent)
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
    for (const r of records) expect(Object.keys(r)).toEqual(['seq', 'at', 'type', 'requestId', 'actor', 'details', 'eventId', 'prevHash', 'keyId', 'hash']);
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
    expect(rehashedRun.code).toBe(1);
    expect(rehashedRun.err).toContain('record seq 2');

    const csv = await bg(x, ['audit', 'export', '--format', 'csv']);
    expect(csv.out.split('\n')[0]).toBe('seq,at,type,requestId,actor,details,eventId,prevHash,keyId,hash');
    expect((await bg(x, ['audit', 'verify', '--file', file('export.csv', csv.out.trim().split('\n'))])).code).toBe(0);
    const since = await bg(x, ['audit', 'export', '--since', String(records[2]?.at)]);
    expect(since.out.trim().split('\n').length).toBeLessThan(lines.length);
    expect((await bg(x, ['audit', 'export', '--since', 'yesterday'])).code).toBe(2);
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
    const retry = posts[limited + 1];
    expect(retry).toBeDefined();
    expect((retry?.at ?? 0) - (posts[limited]?.at ?? 0)).toBeGreaterThanOrEqual(1900);
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

describe('an audit record someone with table access cannot quietly shorten or rewrite', () => {
  const KEY = 'k3y-for-tests-only-0123456789abcdefghij';
  const deleteRecords = async (x: Harness, from: number) => {
    const head = (await x.bot.ctx.outbox.chainHead())?.seq ?? 0;
    for (let seq = from; seq <= head; seq++) await x.db.doc.send(new DeleteCommand({ TableName: x.db.table, Key: auditKey(seq) }));
    return head;
  };

  it('names the records deleted from the end of the chain, from the table\'s checkpoint', async () => {
    h = await startHarness({ durations: ['PT2S'], env: { BREAKGLASS_CHECKPOINT_EVENTS: '3' } });
    const x = h;
    await fullLifecycle(x);
    await x.settle();
    const checkpoint = await new CheckpointStore(x.db).newest();
    expect(checkpoint?.seq).toBeGreaterThan(3);
    const fine = await bg(x, ['audit', 'verify']);
    expect(fine.code).toBe(0);
    expect(fine.err).toContain('holds against the newest checkpoint');
    const exported = (await bg(x, ['audit', 'export'])).out.trim().split('\n');

    const cut = (checkpoint?.seq ?? 0) - 1;
    await deleteRecords(x, cut);
    const run = await bg(x, ['audit', 'verify']);
    expect(run.code).toBe(1);
    expect(run.err).toContain(`records ${cut}–${checkpoint?.seq ?? 0} are missing`);
    // An export whose last lines were dropped fails the same way against the store's checkpoint.
    const dir = mkdtempSync(join(tmpdir(), 'bg-audit-'));
    const short = join(dir, 'short.jsonl');
    writeFileSync(short, `${exported.slice(0, cut - 1).join('\n')}\n`);
    const file = await bg(x, ['audit', 'verify', '--file', short]);
    expect(file.code).toBe(1);
    expect(file.err).toContain('are missing');
  });

  it('holds the chain against the Object Lock bucket when the table\'s own checkpoints are gone too', async () => {
    h = await startHarness({ durations: ['PT2S'], checkpointBucket: true, env: { BREAKGLASS_CHECKPOINT_EVENTS: '3' } });
    const x = h;
    await fullLifecycle(x);
    await x.settle();
    const archived = x.s3?.objects(CHECKPOINT_BUCKET) ?? [];
    expect(archived.length).toBeGreaterThan(0);
    expect(archived.every((o) => o.retention?.mode === 'COMPLIANCE')).toBe(true);
    const newest = await new CheckpointStore(x.db).newest();
    // Someone who can write the table removes its checkpoints and the records they cover.
    for (let seq = 1; seq <= (newest?.seq ?? 0); seq++) await x.db.doc.send(new DeleteCommand({ TableName: x.db.table, Key: { pk: 'CHECKPOINT', sk: seqKey(seq) } }));
    expect(await new CheckpointStore(x.db).newest()).toBeNull();
    await deleteRecords(x, 5);
    // Plain s3:DeleteObject puts a delete marker on the newest checkpoint; its locked version stays.
    x.s3?.seedDeleteMarker(CHECKPOINT_BUCKET, checkpointKey(newest?.seq ?? 0));
    const run = await bg(x, ['audit', 'verify']);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/does NOT verify against the checkpoint bucket s3:\/\/breakglass-checkpoints \(the newest checkpoint was hidden by a delete marker\): records 5–\d+ are missing/);
  });

  it('signs every record with the audit key, so a chain recomputed without it fails, and says when no key is set', async () => {
    h = await startHarness({ durations: ['PT2S'], env: { BREAKGLASS_AUDIT_KEY: KEY, BREAKGLASS_CHECKPOINT_EVENTS: '3' } });
    const x = h;
    await fullLifecycle(x);
    await x.settle();
    const signed = await bg(x, ['audit', 'verify']);
    expect(signed.code).toBe(0);
    expect(signed.err).toMatch(/signed with audit key [0-9a-f]{16}: records 1–\d+/);
    expect(signed.err).toContain('(signature checked)');
    const noKey = await cli({ ...x.env, BREAKGLASS_AUDIT_KEY: '' }, ['audit', 'verify']);
    expect(noKey.code).toBe(1);
    expect(noKey.err).toContain('set BREAKGLASS_AUDIT_KEY');

    // Without the key, an altered record can only be re-hashed with SHA-256, the whole chain rewritten unsigned.
    const records = (await bg(x, ['audit', 'export'])).out.trim().split('\n').map((l) => JSON.parse(l) as ChainRecord);
    let prev = '0'.repeat(64);
    const forged = records.map((r, i) => {
      const base = { ...r, keyId: null, prevHash: prev, details: i === 3 ? { ...r.details, injected: true } : r.details };
      const hash = recordHash(base, null);
      prev = hash;
      return { ...base, hash };
    });
    const dir = mkdtempSync(join(tmpdir(), 'bg-audit-'));
    const path = join(dir, 'forged.jsonl');
    writeFileSync(path, `${forged.map((r) => JSON.stringify(r)).join('\n')}\n`);
    const run = await bg(x, ['audit', 'verify', '--file', path]);
    expect(run.code).toBe(1);
    expect(run.err).toContain('the chain was rewritten');

    // The kill switch run without the key leaves its events for the bot instead of appending unsigned records.
    await bg(x, ['revoke-all', '--reason', 'drill']);
    const before = (await x.bot.ctx.outbox.chainHead())?.seq;
    await cli({ ...x.env, BREAKGLASS_AUDIT_KEY: '' }, ['unfreeze', '--reason', 'drill over']);
    expect((await x.bot.ctx.outbox.chainHead())?.seq).toBe(before);
    await x.bot.publisher.runOnce();
    expect((await bg(x, ['audit', 'verify'])).code).toBe(0);
  });

  it('says plainly that an unsigned chain could be recomputed', async () => {
    h = await startHarness({ durations: ['PT2S'] });
    const x = h;
    await x.settle();
    const run = await bg(x, ['audit', 'verify']);
    expect(run.code).toBe(0);
    expect(run.err).toContain('the chain is not signed');
    expect(run.err).toContain('no checkpoint was found');
  });
});
