import { CreateTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain } from '../../src/audit/chain.ts';
import type { DomainEvent } from '../../src/domain/events.ts';
import { AssignmentStore } from '../../src/store/assignments.ts';
import { OutboxStore } from '../../src/store/outbox.ts';
import { ConflictError } from '../../src/services/ports.ts';
import { ensureTable, TABLE_DEFINITION } from '../../src/store/dynamo.ts';
import { RequestStore } from '../../src/store/requests.ts';
import { requestKey } from '../../src/store/keys.ts';
import { CreationSlots } from '../../src/store/slots.ts';
import { ReplicaStore } from '../../src/store/replicas.ts';
import { startTestDatabase, type TestDatabase } from '../support/database.ts';
import { NOW, pendingRequest } from '../support/fixtures.ts';

let db: TestDatabase;
beforeAll(async () => {
  db = await startTestDatabase();
});
afterAll(async () => {
  await db.close();
});

const request = (id: string) => pendingRequest({ id });
const submitted = (id: string): DomainEvent => {
  const r = request(id);
  return {
    type: 'request.submitted',
    requestId: id,
    actor: null,
    details: { profileId: r.profileId, profileName: r.profileName, accountId: r.target.accountId, permissionSetArn: r.target.permissionSetArn, duration: r.duration, justification: r.justification, ticket: null, approvalsRequired: 2 },
  };
};

describe('creation slots', () => {
  it('never hands out more slots than AWS allows, across holders, and frees them', async () => {
    const slots = new CreationSlots(db, 3);
    const until = '2026-11-28T00:05:00.000Z';
    const got = await Promise.all(['r1', 'r2', 'r3', 'r4'].map((r) => slots.acquire(r, NOW, until)));
    expect(got.filter((n) => n !== null).sort()).toEqual([0, 1, 2]);
    const holderWithout = ['r1', 'r2', 'r3', 'r4'][got.indexOf(null)] ?? '';
    const holderWith = ['r1', 'r2', 'r3', 'r4'][got.findIndex((n) => n !== null)] ?? '';
    expect(await slots.acquire(holderWith, NOW, until)).toBe(got[got.findIndex((n) => n !== null)]);
    await slots.release(holderWith, null);
    expect(await slots.acquire(holderWithout, NOW, until)).not.toBeNull();
    expect(await slots.acquire('late', '2026-11-28T00:06:00.000Z', '2026-11-28T00:10:00.000Z')).not.toBeNull();
  });

  it('wakes a holder it turned away as soon as it frees a slot, instead of leaving it to retry', async () => {
    const woken: string[] = [];
    const slots = new CreationSlots(db, 1, (holder) => woken.push(holder));
    const now = '2026-11-28T02:00:00.000Z';
    const until = '2026-11-28T02:05:00.000Z';
    expect(await slots.acquire('first', now, until)).toBe(0);
    expect(await slots.acquire('second', now, until)).toBeNull();
    await slots.release('nobody', 0);
    expect(woken).toEqual([]);
    await slots.release('first', 0);
    expect(woken).toEqual(['second']);
    expect(await slots.acquire('second', now, until)).toBe(0);
    await slots.release('second', 0);
    expect(woken).toEqual(['second']);
  });
});

describe('request store on dynalite', () => {
  it('guards every change by status and version, and queues its events', async () => {
    const store = new RequestStore(db);
    await store.create(request('req_a'), [submitted('req_a')], '2026-11-28T01:00:00.000Z');
    const updated = await store.update('req_a', { status: 'PENDING', version: 1 }, { set: { status: 'APPROVED' }, events: [{ type: 'request.approved', requestId: 'req_a', actor: null, details: { approvers: ['UA1', 'UA2'] } }], due: NOW }, NOW);
    expect(updated).toMatchObject({ status: 'APPROVED', version: 2 });
    await expect(store.update('req_a', { status: 'PENDING', version: 1 }, { set: { status: 'DENIED' } }, NOW)).rejects.toBeInstanceOf(ConflictError);
    await expect(store.update('req_a', { status: 'APPROVED', version: 1 }, { set: { status: 'GRANTING' } }, NOW)).rejects.toBeInstanceOf(ConflictError);
    const outbox = await new OutboxStore(db).read(requestKey('req_a'));
    expect(outbox?.outbox.map((e) => e.type)).toEqual(['request.submitted', 'request.approved']);
    expect((await store.due(NOW)).map((d) => d.id)).toContain('req_a');
    await store.update('req_a', null, { due: null }, NOW);
    expect((await store.due(null)).map((d) => d.id)).not.toContain('req_a');
  });

  it('lets one owner hold a lease at a time until it runs out', async () => {
    const store = new RequestStore(db);
    await store.create(request('req_b'), [], NOW);
    expect(await store.claim('req_b', 'one', 'PENDING', NOW, '2026-11-28T00:00:30.000Z')).not.toBeNull();
    expect(await store.claim('req_b', 'two', 'PENDING', '2026-11-28T00:00:10.000Z', '2026-11-28T00:00:40.000Z')).toBeNull();
    expect(await store.claim('req_b', 'two', 'PENDING', '2026-11-28T00:00:31.000Z', '2026-11-28T00:01:00.000Z')).not.toBeNull();
    await store.release('req_b', 'two');
    expect(await store.claim('req_b', 'three', 'PENDING', '2026-11-28T00:00:32.000Z', '2026-11-28T00:01:00.000Z')).not.toBeNull();
  });

  it('locks an assignment record and keeps its holders', async () => {
    const store = new AssignmentStore(db);
    const t = request('x').target;
    expect(await store.lock(t, 'request:a', NOW, '2026-11-28T00:01:00.000Z')).toEqual({ holders: [], heldBefore: null, creating: null });
    expect(await store.markCreating(t, 'request:b', 'b')).toBe(false);
    expect(await store.markCreating(t, 'request:a', 'a')).toBe(true);
    expect((await store.get(t)).creating).toBe('a');
    expect(await store.lock(t, 'request:b', NOW, '2026-11-28T00:01:00.000Z')).toBeNull();
    expect(await store.saveAndUnlock(t, 'request:a', { holders: ['a'], heldBefore: 'standing', creating: null })).toBe(true);
    expect(await store.lock(t, 'request:b', NOW, '2026-11-28T00:01:00.000Z')).toEqual({ holders: ['a'], heldBefore: 'standing', creating: null });
    expect(await store.saveAndUnlock(t, 'request:a', { holders: [], heldBefore: null, creating: null })).toBe(false);
    expect(await store.saveAndUnlock(t, 'request:b', { holders: ['a', 'b'], heldBefore: null, creating: null })).toBe(true);
    expect(await store.get(t)).toEqual({ holders: ['a', 'b'], heldBefore: null, creating: null });
    expect(await store.renew(t, 'request:b', '2026-11-28T00:02:00.000Z')).toBe(false);
    await store.lock(t, 'request:c', NOW, '2026-11-28T00:01:00.000Z');
    expect(await store.renew(t, 'request:c', '2026-11-28T00:02:00.000Z')).toBe(true);
    expect(await store.lock(t, 'request:d', '2026-11-28T00:01:30.000Z', '2026-11-28T00:03:00.000Z')).toBeNull();
    expect(await store.unlock(t, 'request:d')).toBe(false);
    expect(await store.unlock(t, 'request:c')).toBe(true);
  });

  it('drops delivered events in order, storing where they went, and leaves the outbox index (and the claim) with the last one', async () => {
    const store = new RequestStore(db, { owner: 'bot-1', leaseMs: 30_000 });
    const outbox = new OutboxStore(db);
    await store.create(request('req_c'), [
      submitted('req_c'),
      { type: 'approval.given', requestId: 'req_c', actor: null, details: { count: 1, required: 2 } },
    ], NOW);
    const item = await outbox.read(requestKey('req_c'));
    const [first, second] = item?.outbox ?? [];
    if (!first || !second) throw new Error('events missing');
    // The writer that queued them claimed their delivery in the same write.
    expect(item?.item).toMatchObject({ deliveryOwner: 'bot-1', deliveryUntil: '2026-11-28T00:00:30.000Z' });
    expect(await outbox.markChained(requestKey('req_c'), [{ index: 1, eventId: second.id, seq: 7 }])).toBe(true);
    expect(await outbox.markChained(requestKey('req_c'), [{ index: 0, eventId: second.id, seq: 7 }])).toBe(false);
    expect((await outbox.read(requestKey('req_c')))?.outbox[1]).toMatchObject({ done: { chain: true }, chainSeq: 7 });
    // Not the last: the claim and the index stay.
    expect(await outbox.delivered(requestKey('req_c'), first.id, [{ path: ['slack', 'approvalMessage'], value: { channel: 'C1', ts: '1.2' } }], true)).toBe(false);
    expect(await outbox.delivered(requestKey('req_c'), first.id, [{ path: ['slack', 'approvalMessage'], value: { channel: 'C1', ts: '1.2' } }], false)).toBe(true);
    expect((await store.get('req_c'))?.slack.approvalMessage).toEqual({ channel: 'C1', ts: '1.2' });
    expect((await outbox.pending('2030-01-01T00:00:00.000Z')).map((p) => p.key.pk)).toContain('REQ#req_c');
    expect(await outbox.delivered(requestKey('req_c'), first.id, [], true)).toBe(false);
    expect(await outbox.delivered(requestKey('req_c'), second.id, [], true)).toBe(true);
    const after = await outbox.read(requestKey('req_c'));
    expect(after?.outbox).toEqual([]);
    expect(after?.item.deliveryOwner).toBeUndefined();
    expect((await outbox.pending('2030-01-01T00:00:00.000Z')).map((p) => p.key.pk)).not.toContain('REQ#req_c');
  });

  it('never lets two writers take the same chain position', async () => {
    const outbox = new OutboxStore(db);
    const rec = { seq: 1, at: NOW, type: 't', requestId: null, actor: null, details: {}, eventId: 'e1', prevHash: '0'.repeat(64), hash: 'h' };
    expect(await outbox.putChainRecord(rec)).toBe(true);
    expect(await outbox.putChainRecord({ ...rec, eventId: 'e2' })).toBe(false);
    expect((await outbox.chainHead())?.eventId).toBe('e1');
    expect(verifyChain([])).toMatchObject({ ok: true, count: 0, head: '0'.repeat(64), keyed: 0 });
  });
});

describe('a table made before the requester index', () => {
  it('is reported, not changed, and a history query on it answers null instead of failing', async () => {
    const table = 'before-requester-index';
    await db.raw.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: TABLE_DEFINITION.AttributeDefinitions.filter((a) => !a.AttributeName.startsWith('requester')),
        KeySchema: [...TABLE_DEFINITION.KeySchema],
        GlobalSecondaryIndexes: TABLE_DEFINITION.GlobalSecondaryIndexes.filter((i) => i.IndexName !== 'requester') as never,
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    expect(await ensureTable(db.raw, table)).toEqual(['requester']);
    const requests = new RequestStore({ ...db, table });
    await requests.create(request('req_before'), [submitted('req_before')], NOW);
    expect(await requests.ofRequester('UREQ', 10)).toBeNull();
    expect((await requests.get('req_before'))?.id).toBe('req_before');
    expect(await ensureTable(db.raw, db.table)).toEqual([]);
  });
});

describe('replicas', () => {
  it('counts the replicas whose entries have not run out, and ends one at once', async () => {
    const replicas = new ReplicaStore(db);
    await replicas.beat('replica-a', '2026-11-28T00:00:30.000Z');
    await replicas.beat('replica-b', '2026-11-28T00:00:20.000Z');
    expect(await replicas.live('2026-11-28T00:00:10.000Z')).toBe(2);
    expect(await replicas.live('2026-11-28T00:00:25.000Z')).toBe(1);
    // a stops: its entry ends now; b's still holds.
    await replicas.beat('replica-a', '2026-11-28T00:00:10.000Z');
    expect(await replicas.live('2026-11-28T00:00:10.000Z')).toBe(1);
    expect(await replicas.live('2026-11-28T00:00:21.000Z')).toBe(0);
  });
});
