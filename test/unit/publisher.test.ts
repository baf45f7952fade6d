/**
 * The audit publisher (src/workers/publisher.ts) on the in-memory outbox, Slack and clock:
 * the chain gets every event exactly once and in order, even with replicas racing; Slack gets
 * each delivery once, and says so when a retry may have repeated a post.
 */
import { describe, expect, it } from 'vitest';
import { ChainKey, checkpointSignatureProblem, verifyChain, type ChainRecord } from '../../src/audit/chain.ts';
import { approve } from '../../src/services/approve.ts';
import type { OutboxPort, QueuedEvent } from '../../src/services/ports.ts';
import { submitRequest } from '../../src/services/submit-request.ts';
import { REPEAT_NOTE } from '../../src/slack/blocks/messages.ts';
import { requestKey, systemOutboxKey } from '../../src/store/keys.ts';
import { AuditPublisher, type PublisherOptions } from '../../src/workers/publisher.ts';
import {
  APPROVALS,
  AUDIT,
  MemoryArchive,
  memoryContext,
  PEOPLE,
  slackPermanent,
  slackRateLimited,
  slackRefused,
  slackTimedOut,
  type MemorySlack,
  type MemoryWorld,
} from '../support/memory.ts';

const { requester, second, approver1, approver2 } = PEOPLE;
const key = new ChainKey('an audit key of at least thirty-two characters');

function publisher(w: MemoryWorld, o: Partial<PublisherOptions> = {}): AuditPublisher {
  return new AuditPublisher({ owner: 'replica-1', outbox: w.ctx.outbox, slack: w.slack, policy: w.policy, log: w.log, clock: w.clock, retryBaseMs: 1000, retryCapMs: 15_000, ...o });
}

async function submitted(w: MemoryWorld, user: string = requester.slack): Promise<string> {
  const r = await submitRequest(w.ctx, user, { profileId: 'org-admin', duration: 'PT1H', justification: 'Production is down and the org SCP needs a fix', ticket: null });
  if (!r.ok) throw new Error('refused');
  return r.request.id;
}

/** One delivery round as the bot runs it: a kick, then wait. */
async function deliver(...replicas: AuditPublisher[]): Promise<void> {
  for (const p of replicas) p.kick();
  await Promise.all(replicas.map((p) => p.idle()));
}

/**
 * The outbox as a process sees it that is killed at the first call of `method` for which `when`
 * holds: that call and every later one fail, and nothing after it happens.
 */
function killedAt(outbox: OutboxPort, method: keyof OutboxPort, when: (...args: never[]) => boolean = () => true): OutboxPort {
  let dead = false;
  return new Proxy(outbox, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (!dead && prop === method && (when as (...a: unknown[]) => boolean)(...args)) dead = true;
        if (dead) throw new Error('the process was killed');
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

async function chainOf(w: MemoryWorld): Promise<ChainRecord[]> {
  const out: ChainRecord[] = [];
  for await (const r of w.ctx.outbox.chain()) out.push(r);
  return out;
}

/** Every event still held in any item's outbox. */
function queued(w: MemoryWorld): Array<{ pk: string; events: QueuedEvent[] }> {
  return w.store.table
    .all()
    .filter((it) => Array.isArray(it.outbox) && (it.outbox as unknown[]).length > 0)
    .map((it) => ({ pk: it.pk as string, events: it.outbox as QueuedEvent[] }));
}

const config = { type: 'config.loaded' as const, requestId: null, actor: null, details: { policyPath: '/p.yml', policySha256: 'abc', profiles: ['org-admin'], store: 'memory' } };

describe('the chain', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('gets every event exactly once, in each item\'s order, with two replicas racing (interleaving %i)', async (seed) => {
    const w = memoryContext({ interleaveSeed: seed });
    const ids = [await submitted(w), await submitted(w, second.slack), await submitted(w)];
    await w.ctx.outbox.appendSystem([config], w.clock.now());
    const one = publisher(w, { owner: 'replica-1', slack: null });
    const two = publisher(w, { owner: 'replica-2', slack: null });
    // The replicas publish while people keep approving (more events arrive mid-pass).
    await Promise.all([
      one.runOnce(),
      two.runOnce(),
      (async () => {
        for (const id of ids) {
          await approve(w.ctx, id, approver1.slack);
          await approve(w.ctx, id, approver2.slack);
        }
      })(),
      one.runOnce(),
      two.runOnce(),
    ]);
    await Promise.all([one.runOnce(), two.runOnce()]);

    const chain = await chainOf(w);
    expect(verifyChain(chain.map((record) => ({ record })))).toMatchObject({ ok: true, count: chain.length });
    const items = queued(w);
    const events = items.flatMap((i) => i.events);
    // 3 submissions, 3 × (2 approvals + quorum), the configuration.
    expect(events).toHaveLength(3 + 9 + 1);
    expect(new Set(chain.map((r) => r.eventId)).size).toBe(chain.length);
    expect(chain.map((r) => r.eventId).sort()).toEqual(events.map((e) => e.id).sort());
    for (const item of items) {
      // Each event knows its place, and an item's events are in the chain in the item's order.
      const seqs = item.events.map((e) => {
        expect(e.done?.chain).toBe(true);
        expect(chain[(e.chainSeq ?? 0) - 1]).toMatchObject({ eventId: e.id, type: e.type, details: e.details });
        return e.chainSeq ?? 0;
      });
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    }
  });

  it('delivers to Slack once with two replicas racing, and empties the outbox', async () => {
    const w = memoryContext({ interleaveSeed: 11 });
    const ids = [await submitted(w), await submitted(w, second.slack)];
    for (const id of ids) await approve(w.ctx, id, approver1.slack);
    const one = publisher(w, { owner: 'replica-1' });
    const two = publisher(w, { owner: 'replica-2' });
    await deliver(one, two);
    await deliver(one, two);
    expect(queued(w)).toEqual([]);
    expect(w.slack.messages(APPROVALS)).toHaveLength(2);
    const parents = w.slack.messages(AUDIT);
    expect(parents).toHaveLength(2);
    for (const p of parents) expect(w.slack.replies(AUDIT, p.ts).map((r) => r.text)).toEqual([expect.stringContaining('requested'), expect.stringContaining('approved (1 of 2)')]);
    expect(w.slack.posts.some((p) => p.text.includes(REPEAT_NOTE))).toBe(false);
    expect((await chainOf(w)).map((r) => r.seq)).toEqual([1, 2, 3, 4]);
  });

  it('refuses to append unsigned records after signed ones; the event waits for a publisher with the key', async () => {
    const w = memoryContext();
    await w.ctx.outbox.appendSystem([config], w.clock.now());
    await publisher(w, { chainKey: key, slack: null }).runOnce();
    const id = await submitted(w);
    await publisher(w, { owner: 'cli', chainKey: null, slack: null }).runOnce();
    expect((await chainOf(w)).map((r) => r.type)).toEqual(['config.loaded']);
    expect(w.store.events(id)[0]?.done?.chain).toBeUndefined();
    await publisher(w, { chainKey: key, slack: null }).runOnce();
    const chain = await chainOf(w);
    expect(chain.map((r) => [r.type, r.keyId])).toEqual([
      ['config.loaded', key.id],
      ['request.submitted', key.id],
    ]);
    expect(verifyChain(chain.map((record) => ({ record })), key)).toMatchObject({ ok: true, keyed: 2 });
  });
});

describe('a publisher killed mid-way', () => {
  async function killedThenRestarted(method: keyof OutboxPort, when: (...args: never[]) => boolean): Promise<{ w: MemoryWorld; id: string }> {
    const w = memoryContext();
    const id = await submitted(w);
    await approve(w.ctx, id, approver1.slack);
    await expect(publisher(w, { slack: null, outbox: killedAt(w.ctx.outbox, method, when) }).runOnce()).rejects.toThrow('killed');
    await publisher(w, { owner: 'replica-2', slack: null }).runOnce();
    return { w, id };
  }

  const expectOnce = async (w: MemoryWorld, id: string) => {
    const chain = await chainOf(w);
    expect(chain.map((r) => r.type)).toEqual(['request.submitted', 'approval.given']);
    expect(verifyChain(chain.map((record) => ({ record })))).toMatchObject({ ok: true, count: 2 });
    expect(w.store.events(id).map((e) => [e.chainSeq, e.done?.chain])).toEqual([
      [1, true],
      [2, true],
    ]);
  };

  it('before appending: the restart appends the event, once', async () => {
    const { w, id } = await killedThenRestarted('putChainRecord', () => true);
    await expectOnce(w, id);
  });

  it('after appending and before recording where: the restart finds the record and does not append it twice', async () => {
    const { w, id } = await killedThenRestarted('markChained', () => true);
    await expectOnce(w, id);
  });

  it('when the answer to an append is lost: the retry finds the record and does not append it twice', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    let lost = false;
    const outbox = new Proxy(w.ctx.outbox, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (prop !== 'putChainRecord' || typeof value !== 'function') return value;
        return async (...args: Parameters<OutboxPort['putChainRecord']>) => {
          const put = await (value as OutboxPort['putChainRecord']).apply(target, args);
          // Written, but the answer never came back (a timeout): the caller sees a failure.
          if (!lost) {
            lost = true;
            throw new Error('socket hang up');
          }
          return put;
        };
      },
    });
    await expect(publisher(w, { outbox, slack: null }).runOnce()).rejects.toThrow('socket hang up');
    await publisher(w, { outbox, slack: null }).runOnce();
    expect((await chainOf(w)).map((r) => r.type)).toEqual(['request.submitted']);
    expect(w.store.events(id).map((e) => [e.chainSeq, e.done?.chain])).toEqual([[1, true]]);
  });

  it('after its Slack posts and before recording them: the restart posts them again, each marked as a possible repeat', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    await deliver(publisher(w, { outbox: killedAt(w.ctx.outbox, 'delivered') }));
    expect(w.slack.messages(APPROVALS)).toHaveLength(1);
    // The dead replica's delivery claim runs out; another takes over, unsure what landed.
    w.clock.advance(30_001);
    await deliver(publisher(w, { owner: 'replica-2' }));
    const [first, again] = w.slack.messages(APPROVALS);
    expect(first?.text).not.toContain(REPEAT_NOTE);
    expect(again?.text).toContain(REPEAT_NOTE);
    const parents = w.slack.messages(AUDIT);
    expect(parents.map((m) => m.text.endsWith(REPEAT_NOTE))).toEqual([false, true]);
    expect(w.slack.dmsTo(requester.slack).map((m) => m.text.endsWith(REPEAT_NOTE))).toEqual([false, true]);
    expect(w.store.events(id)).toEqual([]);
    expect((await chainOf(w)).map((r) => r.type)).toEqual(['request.submitted']);
  });

  it('after recording a delivered event: the restart repeats nothing of it and delivers the next', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    await approve(w.ctx, id, approver1.slack);
    // Killed when dropping the second event: the first is recorded as delivered.
    let drops = 0;
    await deliver(publisher(w, { outbox: killedAt(w.ctx.outbox, 'delivered', () => ++drops === 2) }));
    const posted = w.slack.posts.length;
    w.clock.advance(30_001);
    await deliver(publisher(w, { owner: 'replica-2' }));
    const marked = w.slack.posts.slice(posted);
    // Only the second event's posts (its thread reply and DM) come again, marked.
    expect(marked.map((m) => m.text.endsWith(REPEAT_NOTE))).toEqual([true, true]);
    expect(w.slack.messages(APPROVALS)).toHaveLength(1);
    expect(w.store.events(id)).toEqual([]);
  });
});

describe('the chain while events are delivered', () => {
  it('chains an event whose place in the outbox moved because the one before it was delivered meanwhile', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    await approve(w.ctx, id, approver1.slack);
    const [first, second] = w.store.events(id);
    // Another pass delivers (and drops) the first event just as this one reserves the second's place.
    let dropped = false;
    const outbox = new Proxy(w.ctx.outbox, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (prop !== 'markChained' || typeof value !== 'function') return value;
        return async (...args: Parameters<OutboxPort['markChained']>) => {
          if (!dropped && args[1].some((c) => c.eventId === second?.id) && first) {
            dropped = true;
            await target.delivered(args[0], first.id, [], false);
          }
          return (value as OutboxPort['markChained']).apply(target, args);
        };
      },
    });
    await deliver(publisher(w, { outbox, slack: null }));
    expect(dropped).toBe(true);
    expect((await chainOf(w)).filter((r) => r.requestId === id).map((r) => r.type)).toEqual(['request.submitted', 'approval.given']);
    expect(w.store.events(id).every((e) => e.done?.chain)).toBe(true);
  });
});

describe('Slack deliveries', () => {
  it("claims an item's delivery once for all its steps, and claims again only when the lease runs low", async () => {
    const w = memoryContext();
    const id = await submitted(w);
    const claims: string[] = [];
    const outbox = new Proxy(w.ctx.outbox, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (prop !== 'claim' || typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if ((args[0] as { pk: string }).pk === `REQ#${id}`) claims.push(String(args[2]));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    // Every Slack call takes 4 s of the clock: the 15 s lease runs low during the pass.
    const slack = new Proxy(w.slack, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function' || !['post', 'update'].includes(String(prop))) return value;
        return (...args: unknown[]) => {
          w.clock.advance(4_000);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    await deliver(publisher(w, { outbox, slack }));
    expect(w.slack.posts.length).toBeGreaterThanOrEqual(3);
    // One claim at the start; one more once less than 10 s of the lease was left.
    expect(claims).toHaveLength(2);
    expect(Date.parse(claims[1] ?? '') - Date.parse(claims[0] ?? '')).toBeGreaterThan(10_000);
  });

  it('delivers what this replica queued under the claim it took in the same write: per event, one append and one write that drops it', async () => {
    const w = memoryContext({ claimsDelivery: true, owner: 'replica-1' });
    const id = await submitted(w);
    await approve(w.ctx, id, approver1.slack);
    const calls: string[] = [];
    const outbox = new Proxy(w.ctx.outbox, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function' || ['pending', 'read', 'chainFrom', 'chainHead', 'chain'].includes(String(prop))) return value;
        return (...args: unknown[]) => {
          calls.push(String(prop));
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    await deliver(publisher(w, { owner: 'replica-1', outbox }));
    expect(calls).toEqual(['putChainRecord', 'putChainRecord', 'delivered', 'delivered']);
    expect(w.store.requestItem(id)?.deliveryOwner).toBeUndefined();
    expect(w.slack.posts.some((p) => p.text.includes(REPEAT_NOTE))).toBe(false);
    // Another replica's claim is theirs to deliver while it runs.
    const other = memoryContext({ claimsDelivery: true, owner: 'replica-2' });
    await submitted(other);
    await deliver(publisher(other, { owner: 'replica-1' }));
    expect(other.slack.posts).toEqual([]);
    expect((await chainOf(other)).length).toBe(0);
  });

  it('lets go of its claim when the next event must wait for a process with the audit key', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    await publisher(w, { chainKey: key, slack: null }).runOnce();
    await approve(w.ctx, id, approver1.slack);
    await deliver(publisher(w, { owner: 'cli', chainKey: null }));
    // The head (in the record already) went out; the approval waits, and the item is nobody's.
    expect(w.slack.messages(APPROVALS)).toHaveLength(1);
    expect(w.store.events(id).map((e) => e.type)).toEqual(['approval.given']);
    expect(w.store.requestItem(id)?.deliveryOwner).toBeUndefined();
  });

  it('chains what another replica claimed but has not delivered within 3 s, and leaves its Slack posts to it', async () => {
    const w = memoryContext({ claimsDelivery: true, owner: 'replica-2' });
    const id = await submitted(w);
    const p = publisher(w, { owner: 'replica-1' });
    await deliver(p);
    expect(await chainOf(w)).toEqual([]);
    w.clock.advance(3000);
    await deliver(p);
    expect((await chainOf(w)).map((r) => r.type)).toEqual(['request.submitted']);
    expect(w.store.events(id)[0]).toMatchObject({ done: { chain: true }, chainSeq: 1 });
    expect(w.slack.posts).toEqual([]);
    expect(w.store.requestItem(id)?.deliveryOwner).toBe('replica-2');
  });

  it('posts a submitted request to the approvers, opens its audit thread, tells the requester, and updates the views', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    await approve(w.ctx, id, approver1.slack);
    await deliver(publisher(w));
    const [approval] = w.slack.messages(APPROVALS);
    const [parent] = w.slack.messages(AUDIT);
    expect(JSON.stringify(approval?.blocks)).toContain(id);
    expect(w.slack.messages(APPROVALS)).toHaveLength(1);
    expect(w.slack.replies(AUDIT, parent?.ts ?? '').map((r) => r.text)).toEqual([`<@${requester.slack}> requested Organizations administrator for 1 hour`, `<@${approver1.slack}> approved (1 of 2)`]);
    expect(w.slack.dmsTo(requester.slack).map((m) => m.text)).toEqual([expect.stringContaining('is waiting for 2 approvals'), expect.stringContaining('approved your request')]);
    // Both events update the approval message and the thread's parent.
    expect(w.slack.updates.map((u) => u.ts)).toEqual([approval?.ts, parent?.ts, approval?.ts, parent?.ts]);
    expect((await w.get(id)).slack).toEqual({ approvalMessage: { channel: APPROVALS, ts: approval?.ts }, auditThread: { channel: AUDIT, ts: parent?.ts } });
    expect(w.store.events(id)).toEqual([]);
    expect(w.store.requestItem(id)?.outboxPk).toBeUndefined();
  });

  it('tells the App Homes of every request change as it updates the views, and delivers even when that fails', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    await approve(w.ctx, id, approver1.slack);
    const told: string[] = [];
    await deliver(publisher(w, { homes: { changed: (r) => void told.push(`${r.id}:${r.approvals.length}`) } }));
    expect(told).toEqual([`${id}:1`, `${id}:1`]);

    await approve(w.ctx, id, approver2.slack);
    await deliver(
      publisher(w, {
        homes: {
          changed: () => {
            throw new Error('home refresher broken');
          },
        },
      }),
    );
    expect(w.store.events(id)).toEqual([]);
    expect(w.slack.updates).toHaveLength(8);
  });

  it('shouts a failing revoke in the channel as well as in its thread', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    await w.ctx.requests.appendEvents(id, [{ type: 'revoke.failed', requestId: id, actor: null, details: { attempt: 3, error: 'AccessDenied', nextAttemptAt: w.clock.in(8000) } }], w.clock.now());
    await deliver(publisher(w));
    const top = w.slack.messages(AUDIT).map((m) => m.text);
    expect(top).toHaveLength(2);
    expect(top[1]).toContain(`Removing access keeps failing (attempt 3): AccessDenied`);
    expect(top[1]).toContain(`(request \`${id}\`)`);
  });

  it('records the configuration in the chain only, shouts system alerts, and closes a drift alert in place', async () => {
    const w = memoryContext();
    await w.ctx.outbox.appendSystem([config], w.clock.now());
    w.clock.advance(1);
    await w.ctx.freeze.set({ by: 'ops', reason: 'leak', at: w.clock.now() }, { type: 'freeze.set', requestId: null, actor: null, details: { operator: 'ops', reason: 'leak' } });
    w.clock.advance(1);
    const alert = { id: 'd1', profileId: 'org-admin', accountId: '111111111111', permissionSetArn: 'arn:ps', instanceArn: 'arn:i', principalType: 'USER' as const, principalId: 'p-x', detectedAt: w.clock.now() };
    await w.ctx.drift.raise(alert, { type: 'drift.detected', requestId: null, actor: null, details: { driftId: 'd1', profileId: 'org-admin', profileName: 'Org admin', accountId: '111111111111', permissionSetArn: 'arn:ps', principalType: 'USER', principalId: 'p-x', mode: 'alert' } }, w.clock.now());
    const p = publisher(w);
    await deliver(p);
    expect(w.slack.posts.map((m) => m.text)).toEqual([expect.stringContaining('breakglass is frozen by operator `ops`'), expect.stringContaining('Drift: user `p-x`')]);
    const drift = w.slack.posts[1];
    expect((await w.ctx.drift.get('d1'))?.alertMessage).toEqual({ channel: AUDIT, ts: drift?.ts });
    await w.ctx.drift.close('d1', 'revoked', { type: 'drift.revoked', requestId: null, actor: { slackUserId: approver1.slack, principalId: null }, details: { driftId: 'd1', deletionRequestId: 'x' } }, w.clock.now());
    await deliver(p);
    expect(w.slack.posts.at(-1)?.text).toContain('Drift `d1` removed by');
    expect(w.slack.updates).toEqual([expect.objectContaining({ channel: AUDIT, ts: drift?.ts, text: expect.stringContaining('~Drift~') })]);
    expect((await chainOf(w)).map((r) => r.type)).toEqual(['config.loaded', 'freeze.set', 'drift.detected', 'drift.revoked']);
  });

  it('retries a post Slack refused, and does not mark the retry as a repeat', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    w.slack.failNext('post', slackRefused());
    const p = publisher(w);
    await deliver(p);
    expect(w.slack.posts).toEqual([]);
    expect(w.store.requestItem(id)?.outboxAt).toBe(w.clock.in(1000));
    expect(w.store.events(id)[0]?.tried).toEqual({});
    // What was done is recorded with the retry time: the event is in the chain.
    expect(w.store.events(id)[0]).toMatchObject({ done: { chain: true }, chainSeq: 1 });
    w.clock.advance(1000);
    await deliver(p);
    expect(w.slack.messages(APPROVALS)).toHaveLength(1);
    expect(w.slack.posts.some((m) => m.text.includes(REPEAT_NOTE))).toBe(false);
    expect((await w.get(id)).slack.approvalMessage?.repeated).toBeUndefined();
    expect(w.store.events(id)).toEqual([]);
  });

  it('marks the retry of a post that may have landed (a timeout) as a possible repeat', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    w.slack.failNext('post', slackTimedOut(), { landed: true });
    const p = publisher(w);
    await deliver(p);
    expect(w.slack.messages(APPROVALS)).toHaveLength(1);
    expect(w.store.events(id)[0]?.tried).toEqual({ approvalMessage: true });
    w.clock.advance(1000);
    await deliver(p);
    const [first, again] = w.slack.messages(APPROVALS);
    expect(first?.text).not.toContain(REPEAT_NOTE);
    expect(again?.text).toContain(REPEAT_NOTE);
    expect((await w.get(id)).slack.approvalMessage).toEqual({ channel: APPROVALS, ts: again?.ts, repeated: true });
    // Only the post that was interrupted is marked.
    expect(w.slack.posts.filter((m) => m.text.includes(REPEAT_NOTE))).toHaveLength(1);
  });

  it('skips a delivery Slack will never accept, and delivers the rest', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    w.slack.failNext('dmChannel', slackPermanent());
    await deliver(publisher(w));
    expect(w.slack.dmsTo(requester.slack)).toEqual([]);
    expect(w.slack.messages(APPROVALS)).toHaveLength(1);
    expect(w.slack.updates).toHaveLength(2);
    expect(w.store.events(id)).toEqual([]);
  });

  it('pauses every Slack delivery for as long as Retry-After says', async () => {
    const w = memoryContext();
    const a = await submitted(w);
    w.clock.advance(10);
    const b = await submitted(w, second.slack);
    w.slack.failNext('post', slackRateLimited(30));
    const p = publisher(w);
    await deliver(p);
    expect(w.slack.posts).toEqual([]);
    // Both items wait out the pause, not just the one that met the 429.
    expect(w.store.requestItem(a)?.outboxAt).toBe(w.clock.in(30_000));
    expect(w.store.requestItem(b)?.outboxAt).toBe(w.clock.in(30_000));
    w.clock.advance(29_000);
    await deliver(p);
    expect(w.slack.posts).toEqual([]);
    w.clock.advance(1000);
    await deliver(p);
    expect(w.slack.messages(APPROVALS)).toHaveLength(2);
    expect(queued(w)).toEqual([]);
  });

  it('records in the chain while Slack is down', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    w.slack.failNext('post', slackRefused('slack down'), { count: 100 });
    const p = publisher(w);
    await deliver(p);
    await approve(w.ctx, id, approver1.slack);
    await deliver(p);
    expect((await chainOf(w)).map((r) => r.type)).toEqual(['request.submitted', 'approval.given']);
    expect(w.slack.posts).toEqual([]);
  });
});

describe('checkpoints', () => {
  function anchored(w: MemoryWorld, archive: MemoryArchive, slack: MemorySlack | null = null) {
    return publisher(w, { chainKey: key, slack, checkpoints: { store: w.store.checkpoints, archive, everyEvents: 3, everyMs: 3_600_000 } });
  }

  it('anchors the head every N records and on stop: signed, in the table and the archive, and noted in the chain', async () => {
    const w = memoryContext();
    const archive = new MemoryArchive();
    const p = anchored(w, archive, w.slack);
    const id = await submitted(w);
    await approve(w.ctx, id, approver1.slack);
    await deliver(p);
    expect(await w.store.checkpoints.newest()).toBeNull();
    await approve(w.ctx, id, approver2.slack);
    await deliver(p);
    const chain = await chainOf(w);
    const cp = await w.store.checkpoints.newest();
    expect(cp).toMatchObject({ seq: 4, hash: chain[3]?.hash, keyId: key.id });
    expect(cp && checkpointSignatureProblem(cp, key)).toBeNull();
    expect(archive.stored).toEqual([cp]);
    // The note goes through the chain (not counted towards the next checkpoint) and to the audit channel.
    expect(chain.map((r) => r.type).slice(-1)).toEqual(['audit.checkpoint']);
    expect(chain[4]?.details).toEqual({ seq: 4, hash: cp?.hash, keyId: key.id, archived: true });
    await deliver(p);
    expect(w.slack.messages(AUDIT).map((m) => m.text).at(-1)).toContain('Audit checkpoint: the record reached #4');
    // Fewer than N records since: no checkpoint until the publisher stops.
    await w.ctx.outbox.appendSystem([config], w.clock.now());
    await deliver(p);
    expect((await w.store.checkpoints.newest())?.seq).toBe(4);
    await p.stop();
    const closing = await w.store.checkpoints.newest();
    const after = await chainOf(w);
    expect(closing).toMatchObject({ seq: after.length, hash: after.at(-1)?.hash, keyId: key.id });
    expect(archive.stored.map((c) => c.seq)).toEqual([4, after.length]);
    expect(after.at(-1)?.type).toBe('config.loaded');
    expect(verifyChain(after.map((record) => ({ record })), key)).toMatchObject({ ok: true, keyed: after.length });
  });

  it('keeps a checkpoint the archive could not take and stores it at the next pass', async () => {
    const w = memoryContext();
    const archive = new MemoryArchive();
    archive.failNext(1);
    const p = anchored(w, archive);
    await w.ctx.outbox.appendSystem([config, config, config], w.clock.now());
    await deliver(p);
    expect((await w.store.checkpoints.newest())?.seq).toBe(3);
    expect(archive.stored.map((c) => c.seq)).toEqual([3]);
  });

  it('anchors after everyMs when fewer than N records came', async () => {
    const w = memoryContext();
    const archive = new MemoryArchive();
    const p = publisher(w, { chainKey: key, slack: null, checkpoints: { store: w.store.checkpoints, archive, everyEvents: 100, everyMs: 60_000 } });
    await w.ctx.outbox.appendSystem([config], w.clock.now());
    await deliver(p);
    expect(await w.store.checkpoints.newest()).toBeNull();
    w.clock.advance(60_000);
    await deliver(p);
    expect((await w.store.checkpoints.newest())?.seq).toBe(1);
  });
});

describe('running', () => {
  it('delivers on its interval and when kicked, and stops cleanly', async () => {
    const w = memoryContext();
    const p = publisher(w);
    p.start(1000);
    await p.idle();
    const id = await submitted(w);
    w.clock.advance(1000);
    await p.idle();
    expect(w.slack.messages(APPROVALS)).toHaveLength(1);
    await approve(w.ctx, id, approver1.slack);
    p.kick();
    await p.idle();
    expect(w.store.events(id)).toEqual([]);
    await p.stop();
    expect(w.clock.pendingTimers()).toBe(0);
    expect((await w.ctx.outbox.read(requestKey(id)))?.item.deliveryOwner).toBeUndefined();
    expect(await w.ctx.outbox.read(systemOutboxKey())).toBeNull();
  });
});

describe('runOnce beside a running publisher', () => {
  it('never runs a Slack pass beside the loop its own chain pass kicks (the approval message is posted once)', async () => {
    const w = memoryContext();
    await submitted(w);
    const p = publisher(w);
    p.kick();
    await Promise.all([p.runOnce(), p.runOnce()]);
    await p.idle();
    expect(w.slack.messages(APPROVALS)).toHaveLength(1);
  });
});

