/**
 * One set of behavioural tests, run against the DynamoDB stores (src/store, on dynalite) and
 * their in-memory twins (test/support/memory.ts): the unit tests trust the memory stores to
 * succeed and refuse exactly where DynamoDB does, and this is what holds them to it.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENESIS_HASH, type ChainRecord } from '../../src/audit/chain.ts';
import type { DomainEvent } from '../../src/domain/events.ts';
import type { AccessRequest } from '../../src/domain/request.ts';
import {
  ConflictError,
  type AssignmentStorePort,
  type CheckpointStorePort,
  type EmergencyUsePort,
  type SessionDenyStorePort,
  type CreationSlotsPort,
  type DriftStorePort,
  type FreezePort,
  type HomeVisitorsPort,
  type ItemKey,
  type OutboxPort,
  type RequestStorePort,
} from '../../src/services/ports.ts';
import { AssignmentStore } from '../../src/store/assignments.ts';
import { CheckpointStore } from '../../src/store/checkpoints.ts';
import { SessionDenyStore } from '../../src/store/session-denies.ts';
import { DriftStore } from '../../src/store/drift.ts';
import { ensureTable, type Database } from '../../src/store/dynamo.ts';
import { EmergencyUses } from '../../src/store/emergency-uses.ts';
import { FreezeStore } from '../../src/store/freeze.ts';
import { HomeVisitorStore } from '../../src/store/home-visitors.ts';
import { refusalKey, requestKey, systemOutboxKey } from '../../src/store/keys.ts';
import { OutboxStore } from '../../src/store/outbox.ts';
import { RequestStore } from '../../src/store/requests.ts';
import { CreationSlots } from '../../src/store/slots.ts';
import { startTestDatabase, type TestDatabase } from '../support/database.ts';
import { NOW, pendingRequest } from '../support/fixtures.ts';
import { MemoryStore, MemorySlots } from '../support/memory.ts';

interface Stores {
  requests: RequestStorePort;
  assignments: AssignmentStorePort;
  slots(size: number): CreationSlotsPort;
  drift: DriftStorePort;
  freeze: FreezePort;
  outbox: OutboxPort;
  checkpoints: CheckpointStorePort;
  sessionDenies: SessionDenyStorePort;
  emergencyUses: EmergencyUsePort;
  homeVisitors: HomeVisitorsPort;
  /** The raw item, as DynamoDB holds it. */
  raw(key: ItemKey): Promise<Record<string, unknown> | undefined>;
}

let server: TestDatabase;
let tables = 0;
beforeAll(async () => {
  server = await startTestDatabase('contract-0');
});
afterAll(async () => {
  await server.close();
});

const implementations: Array<[string, () => Promise<Stores>]> = [
  [
    'DynamoDB (dynalite)',
    async () => {
      // A table of its own for every test, so no test sees another's items.
      const table = `contract-${++tables}`;
      await ensureTable(server.raw, table);
      const db: Database = { ...server, table };
      return {
        requests: new RequestStore(db),
        assignments: new AssignmentStore(db),
        slots: (size) => new CreationSlots(db, size),
        drift: new DriftStore(db),
        freeze: new FreezeStore(db),
        outbox: new OutboxStore(db),
        checkpoints: new CheckpointStore(db),
        sessionDenies: new SessionDenyStore(db),
        emergencyUses: new EmergencyUses(db),
        homeVisitors: new HomeVisitorStore(db),
        raw: async (key) => (await db.doc.send(new GetCommand({ TableName: table, Key: key, ConsistentRead: true }))).Item,
      };
    },
  ],
  [
    'memory',
    async () => {
      const s = new MemoryStore();
      return {
        requests: s.requests,
        assignments: s.assignments,
        slots: (size) => new MemorySlots(s.table, size),
        drift: s.drift,
        freeze: s.freeze,
        outbox: s.outbox,
        checkpoints: s.checkpoints,
        sessionDenies: s.sessionDenies,
        emergencyUses: s.emergencyUses,
        homeVisitors: s.homeVisitors,
        raw: async (key) => s.table.get(key),
      };
    },
  ],
];

const at = (seconds: number) => new Date(Date.parse(NOW) + seconds * 1000).toISOString();
const request = (id: string, over: Partial<AccessRequest> = {}) => pendingRequest({ id, ...over });
const approvalGiven = (id: string, count: number): DomainEvent => ({ type: 'approval.given', requestId: id, actor: { slackUserId: 'UA1', principalId: null }, details: { count, required: 2 } });
const submitted = (id: string): DomainEvent => {
  const r = request(id);
  return {
    type: 'request.submitted',
    requestId: id,
    actor: null,
    details: { profileId: r.profileId, profileName: r.profileName, accountId: r.target.accountId, permissionSetArn: r.target.permissionSetArn, duration: r.duration, justification: r.justification, ticket: null, approvalsRequired: 2 },
  };
};
const freezeEvent = (type: 'freeze.set' | 'freeze.lifted'): DomainEvent => ({ type, requestId: null, actor: null, details: { operator: 'ops', reason: 'drill' } });
const record = (seq: number, eventId: string, over: Partial<ChainRecord> = {}): ChainRecord => ({ seq, at: NOW, type: 'config.loaded', requestId: null, actor: null, details: {}, eventId, prevHash: GENESIS_HASH, hash: `h${seq}`, ...over });

async function errorOf(p: Promise<unknown>): Promise<{ name: string; message: string; status: number | undefined }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('expected the write to be refused');
}

describe.each(implementations)('stores: %s', (_name, make) => {
  describe('requests', () => {
    it('creates a request once, with its events queued and its due time indexed', async () => {
      const s = await make();
      await s.requests.create(request('req_a'), [submitted('req_a')], at(3600));
      await expect(s.requests.create(request('req_a'), [], at(60))).rejects.toMatchObject({ name: 'ConditionalCheckFailedException' });
      expect(await s.requests.get('req_a')).toEqual(request('req_a'));
      expect(await s.requests.get('req_none')).toBeNull();
      const item = await s.outbox.read(requestKey('req_a'));
      expect(item?.outbox).toEqual([expect.objectContaining({ type: 'request.submitted', at: NOW, done: {}, tried: {}, id: expect.any(String) })]);
      expect(await s.requests.due(null)).toEqual([{ id: 'req_a', status: 'PENDING', dueAt: at(3600) }]);
    });

    it('keeps copies: changing what was written or read changes nothing stored', async () => {
      const s = await make();
      const written = request('req_copy');
      await s.requests.create(written, [submitted('req_copy')], at(3600));
      written.approvals.push({ slackUserId: 'UX', at: NOW });
      written.target.accountId = '999999999999';
      const read = await s.requests.get('req_copy');
      expect(read).toEqual(request('req_copy'));
      if (!read) throw new Error('missing');
      read.approvals.push({ slackUserId: 'UY', at: NOW });
      read.grant.attempts = 99;
      const changes = { set: { approvals: [{ slackUserId: 'UA1', at: NOW }] } };
      const updated = await s.requests.update('req_copy', null, changes, at(1));
      changes.set.approvals.push({ slackUserId: 'UZ', at: NOW });
      updated.approvals.push({ slackUserId: 'UW', at: NOW });
      const item = await s.outbox.read(requestKey('req_copy'));
      item?.outbox.pop();
      expect(await s.requests.get('req_copy')).toMatchObject({ approvals: [{ slackUserId: 'UA1', at: NOW }], grant: { attempts: 0 }, target: request('x').target });
      expect((await s.outbox.read(requestKey('req_copy')))?.outbox).toHaveLength(1);
    });

    it('guards every update by status and version, bumps the version, and queues events', async () => {
      const s = await make();
      await s.requests.create(request('req_a'), [submitted('req_a')], at(3600));
      const approved = await s.requests.update('req_a', { status: 'PENDING', version: 1 }, { set: { status: 'APPROVED', approvals: [{ slackUserId: 'UA1', at: NOW }] }, events: [approvalGiven('req_a', 1)], due: at(5) }, at(1));
      expect(approved).toMatchObject({ status: 'APPROVED', version: 2, updatedAt: at(1), approvals: [{ slackUserId: 'UA1', at: NOW }] });
      await expect(s.requests.update('req_a', { status: 'PENDING', version: 2 }, { set: { status: 'DENIED' } }, at(2))).rejects.toBeInstanceOf(ConflictError);
      await expect(s.requests.update('req_a', { status: 'APPROVED', version: 1 }, { set: { status: 'GRANTING' } }, at(2))).rejects.toBeInstanceOf(ConflictError);
      await expect(s.requests.update('req_none', null, { set: { status: 'GRANTING' } }, at(2))).rejects.toBeInstanceOf(ConflictError);
      await expect(s.requests.update('req_a', null, { set: { id: 'x' } as never }, at(2))).rejects.toThrow('not a request field: id');
      // Either of several statuses.
      const granting = await s.requests.update('req_a', { status: ['PENDING', 'APPROVED'], version: 2 }, { set: { status: 'GRANTING' } }, at(3));
      expect(granting).toMatchObject({ status: 'GRANTING', version: 3 });
      // An unguarded update still bumps the version.
      expect(await s.requests.update('req_a', null, {}, at(4))).toMatchObject({ version: 4, updatedAt: at(4) });
      expect((await s.outbox.read(requestKey('req_a')))?.outbox.map((e) => [e.type, e.at])).toEqual([
        ['request.submitted', NOW],
        ['approval.given', at(1)],
      ]);
      expect((await s.outbox.pending(null)).map((p) => [p.key.pk, p.item.outboxAt])).toEqual([['REQ#req_a', at(1)]]);
    });

    it('moves and clears the due time; due() lists what is due by then, oldest first', async () => {
      const s = await make();
      await s.requests.create(request('req_late'), [], at(300));
      await s.requests.create(request('req_early'), [], at(100));
      await s.requests.create(request('req_mid'), [], at(200));
      expect((await s.requests.due(at(250))).map((d) => d.id)).toEqual(['req_early', 'req_mid']);
      expect((await s.requests.due(at(200))).map((d) => d.id)).toEqual(['req_early', 'req_mid']);
      expect((await s.requests.due(at(199))).map((d) => d.id)).toEqual(['req_early']);
      expect((await s.requests.due(null)).map((d) => d.id)).toEqual(['req_early', 'req_mid', 'req_late']);
      // One requester's, by the table's filter.
      const other = request('req_other', { requester: { ...request('x').requester, slackUserId: 'UOTHER' } });
      await s.requests.create(other, [], at(150));
      expect(await s.requests.dueOf('UOTHER')).toEqual([{ id: 'req_other', status: 'PENDING', dueAt: at(150) }]);
      expect((await s.requests.dueOf(request('x').requester.slackUserId)).map((d) => d.id)).toEqual(['req_early', 'req_mid', 'req_late']);
      await s.requests.update('req_other', null, { due: null }, at(1));
      expect(await s.requests.dueOf('UOTHER')).toEqual([]);
      await s.requests.update('req_early', null, { due: at(400) }, at(1));
      await s.requests.update('req_mid', null, { due: null }, at(1));
      expect(await s.requests.due(null)).toEqual([
        { id: 'req_late', status: 'PENDING', dueAt: at(300) },
        { id: 'req_early', status: 'PENDING', dueAt: at(400) },
      ]);
      // An update that says nothing of the due time leaves it.
      await s.requests.update('req_late', null, { set: { ticket: 'T-1' } }, at(2));
      expect((await s.requests.due(at(300))).map((d) => d.id)).toEqual(['req_late']);
    });

    it("lists a person's requests newest first, as they are now, up to the limit", async () => {
      const s = await make();
      const mine = (id: string, seconds: number) => request(id, { createdAt: at(seconds), updatedAt: at(seconds) });
      await s.requests.create(mine('req_old', 1), [], at(3600));
      await s.requests.create(mine('req_new', 3), [], at(3600));
      await s.requests.create(mine('req_mid', 2), [], at(3600));
      await s.requests.create(request('req_other', { createdAt: at(4), requester: { ...request('x').requester, slackUserId: 'UOTHER' } }), [], at(3600));
      await s.requests.update('req_old', null, { set: { status: 'CANCELLED' }, due: null }, at(5));
      expect((await s.requests.ofRequester('UREQ', 10))?.map((r) => [r.id, r.status])).toEqual([
        ['req_new', 'PENDING'],
        ['req_mid', 'PENDING'],
        ['req_old', 'CANCELLED'],
      ]);
      expect((await s.requests.ofRequester('UREQ', 2))?.map((r) => r.id)).toEqual(['req_new', 'req_mid']);
      expect((await s.requests.ofRequester('UOTHER', 10))?.map((r) => r.id)).toEqual(['req_other']);
      expect(await s.requests.ofRequester('UNOBODY', 10)).toEqual([]);
      expect(await s.requests.get('req_new')).toEqual(mine('req_new', 3));
    });

    it('lets one owner hold a lease at a time, in one status, until it runs out', async () => {
      const s = await make();
      await s.requests.create(request('req_b'), [], NOW);
      expect(await s.requests.claim('req_b', 'one', 'APPROVED', NOW, at(30))).toBeNull();
      expect(await s.requests.claim('req_b', 'one', 'PENDING', NOW, at(30))).toMatchObject({ id: 'req_b', status: 'PENDING' });
      expect(await s.requests.claim('req_b', 'two', 'PENDING', at(10), at(40))).toBeNull();
      // The holder renews by claiming again.
      expect(await s.requests.claim('req_b', 'one', 'PENDING', at(20), at(50))).not.toBeNull();
      expect(await s.requests.claim('req_b', 'two', 'PENDING', at(40), at(70))).toBeNull();
      // At its very end the lease still holds; only after it.
      expect(await s.requests.claim('req_b', 'two', 'PENDING', at(50), at(70))).toBeNull();
      expect(await s.requests.claim('req_b', 'two', 'PENDING', at(51), at(80))).not.toBeNull();
      // Only the holder releases.
      await s.requests.release('req_b', 'one');
      expect(await s.requests.claim('req_b', 'three', 'PENDING', at(52), at(90))).toBeNull();
      await s.requests.release('req_b', 'two');
      expect(await s.requests.claim('req_b', 'three', 'PENDING', at(52), at(90))).not.toBeNull();
      expect(await s.requests.claim('req_none', 'one', 'PENDING', NOW, at(30))).toBeNull();
      // The lease is not part of the request.
      expect(await s.requests.get('req_b')).toEqual(request('req_b'));
    });

    it('takes the lease with a change, or ends it, in the same guarded write', async () => {
      const s = await make();
      await s.requests.create(request('req_l'), [], NOW);
      const taken = await s.requests.update('req_l', { status: 'PENDING', version: 1 }, { set: { status: 'APPROVED' }, lease: { owner: 'one', until: at(30) } }, at(1));
      expect(taken).toMatchObject({ status: 'APPROVED', version: 2 });
      expect(taken).not.toHaveProperty('leaseOwner');
      expect(await s.requests.claim('req_l', 'two', 'APPROVED', at(10), at(40))).toBeNull();
      expect(await s.requests.claim('req_l', 'one', 'APPROVED', at(10), at(40))).not.toBeNull();
      // A change that leaves the lease out leaves it as it is.
      await s.requests.update('req_l', { status: 'APPROVED', version: 2 }, { due: at(60) }, at(11));
      expect(await s.requests.claim('req_l', 'two', 'APPROVED', at(12), at(42))).toBeNull();
      await s.requests.update('req_l', { status: 'APPROVED', version: 3 }, { set: { status: 'CANCELLED' }, lease: null }, at(13));
      expect(await s.requests.claim('req_l', 'two', 'CANCELLED', at(14), at(44))).not.toBeNull();
    });

    it('counts refusals per person beside the request, never changing it', async () => {
      const s = await make();
      await s.requests.create(request('req_c'), [], NOW);
      for (let i = 1; i <= 3; i++) expect(await s.requests.countRefusal('req_c', 'UX', 'approve', at(i))).toBe(i);
      expect(await s.requests.countRefusal('req_c', 'UY', 'deny', at(9))).toBe(1);
      expect(await s.raw(refusalKey('req_c', 'UX'))).toMatchObject({ count: 3, lastAction: 'approve', lastAt: at(3) });
      expect(await s.requests.get('req_c')).toEqual(request('req_c'));
    });

    it('appends events without a version bump, only to a request that exists', async () => {
      const s = await make();
      await s.requests.create(request('req_d'), [], NOW);
      expect(await s.requests.appendEvents('req_d', [approvalGiven('req_d', 1)], at(5))).toBe(true);
      expect(await s.requests.appendEvents('req_none', [approvalGiven('req_none', 1)], at(5))).toBe(false);
      expect(await s.raw(requestKey('req_none'))).toBeUndefined();
      expect(await s.requests.get('req_d')).toMatchObject({ version: 1, updatedAt: NOW });
      const item = await s.outbox.read(requestKey('req_d'));
      expect(item?.outbox.map((e) => e.type)).toEqual(['approval.given']);
      expect(item?.item.outboxAt).toBe(at(5));
    });

    it('refuses a request item grown past 400 KB, and keeps the item as it was', async () => {
      const s = await make();
      await s.requests.create(request('req_big'), [], NOW);
      const chunk = (n: number): DomainEvent => ({ type: 'attempt.rejected', requestId: 'req_big', actor: null, details: { action: 'approve', reason: String(n).repeat(60_000).slice(0, 60_000) } });
      let accepted = 0;
      let refusal: Awaited<ReturnType<typeof errorOf>> | null = null;
      for (let i = 0; i < 10 && !refusal; i++) {
        try {
          await s.requests.appendEvents('req_big', [chunk(i)], at(i));
          accepted++;
        } catch (err) {
          refusal = await errorOf(Promise.reject(err instanceof Error ? err : new Error(String(err))));
        }
      }
      // ~2 KB of request and 6 × 60 KB fit; the 7th would take it past 409,600 bytes.
      expect(accepted).toBe(6);
      expect(refusal).toEqual({ name: 'ValidationException', message: 'Item size to update has exceeded the maximum allowed size', status: 400 });
      expect((await s.outbox.read(requestKey('req_big')))?.outbox).toHaveLength(6);
      // The guarded update meets the same limit.
      await expect(errorOf(s.requests.update('req_big', { status: 'PENDING', version: 1 }, { set: { justification: 'x'.repeat(60_000) } }, at(20)))).resolves.toMatchObject({
        name: 'ValidationException',
        message: 'Item size to update has exceeded the maximum allowed size',
      });
      expect(await s.requests.get('req_big')).toMatchObject({ version: 1, justification: request('x').justification });
      // And so does a put.
      await expect(errorOf(s.requests.create(request('req_huge', { justification: 'y'.repeat(410_000) }), [], NOW))).resolves.toEqual({
        name: 'ValidationException',
        message: 'Item size has exceeded the maximum allowed size',
        status: 400,
      });
      expect(await s.requests.get('req_huge')).toBeNull();
    });
  });

  describe('assignment records and their lock', () => {
    const t = request('x').target;
    const other = { ...t, principalId: 'p2' };

    it('locks, marks the creation, saves and unlocks only as the lock holder', async () => {
      const s = await make();
      expect(await s.assignments.get(t)).toEqual({ holders: [], heldBefore: null, creating: null });
      expect(await s.assignments.lock(t, 'request:a', NOW, at(60))).toEqual({ holders: [], heldBefore: null, creating: null });
      expect(await s.assignments.lock(t, 'request:b', at(1), at(61))).toBeNull();
      // Another assignment has a lock of its own.
      expect(await s.assignments.lock(other, 'request:b', at(1), at(61))).not.toBeNull();
      expect(await s.assignments.markCreating(t, 'request:b', 'b')).toBe(false);
      expect(await s.assignments.markCreating(t, 'request:a', 'a')).toBe(true);
      expect(await s.assignments.get(t)).toEqual({ holders: [], heldBefore: null, creating: 'a' });
      // The holder takes it again (renewing).
      expect(await s.assignments.lock(t, 'request:a', at(2), at(62))).toEqual({ holders: [], heldBefore: null, creating: 'a' });
      expect(await s.assignments.saveAndUnlock(t, 'request:b', { holders: ['b'], heldBefore: null, creating: null })).toBe(false);
      expect(await s.assignments.saveAndUnlock(t, 'request:a', { holders: ['a'], heldBefore: 'standing', creating: null })).toBe(true);
      expect(await s.assignments.get(t)).toEqual({ holders: ['a'], heldBefore: 'standing', creating: null });
      expect(await s.assignments.saveAndUnlock(t, 'request:a', { holders: [], heldBefore: null, creating: null })).toBe(false);
      expect(await s.assignments.unlock(t, 'request:a')).toBe(false);
      // Unlocked: anyone takes it.
      expect(await s.assignments.lock(t, 'request:b', at(3), at(63))).toEqual({ holders: ['a'], heldBefore: 'standing', creating: null });
      expect(await s.assignments.saveAndUnlock(t, 'request:b', { holders: ['a', 'b'], heldBefore: null, creating: 'c' })).toBe(true);
      expect(await s.assignments.get(t)).toEqual({ holders: ['a', 'b'], heldBefore: null, creating: 'c' });
    });

    it('renews only for its holder, and the lock runs out at its end', async () => {
      const s = await make();
      await s.assignments.lock(t, 'request:c', NOW, at(60));
      expect(await s.assignments.renew(t, 'request:d', at(120))).toBe(false);
      expect(await s.assignments.renew(t, 'request:c', at(120))).toBe(true);
      expect(await s.assignments.lock(t, 'request:d', at(90), at(150))).toBeNull();
      expect(await s.assignments.lock(t, 'request:d', at(120), at(150))).toBeNull();
      // Past its end, it is taken over; the old holder can then neither renew, save nor unlock.
      expect(await s.assignments.lock(t, 'request:d', at(121), at(180))).not.toBeNull();
      expect(await s.assignments.renew(t, 'request:c', at(240))).toBe(false);
      expect(await s.assignments.markCreating(t, 'request:c', 'c')).toBe(false);
      expect(await s.assignments.saveAndUnlock(t, 'request:c', { holders: ['c'], heldBefore: null, creating: null })).toBe(false);
      expect(await s.assignments.unlock(t, 'request:c')).toBe(false);
      expect(await s.assignments.unlock(t, 'request:d')).toBe(true);
      expect(await s.assignments.unlock(t, 'request:d')).toBe(false);
      // A holder whose lock ran out but was not taken over may still renew it (the condition is the owner alone).
      await s.assignments.lock(t, 'request:e', at(200), at(210));
      expect(await s.assignments.renew(t, 'request:e', at(300))).toBe(true);
    });
  });

  describe('creation slots', () => {
    it('never hands out more than the limit, hands a holder its own slot again, and frees slots', async () => {
      const s = await make();
      const slots = s.slots(3);
      const got = await Promise.all(['r1', 'r2', 'r3', 'r4'].map((r) => slots.acquire(r, NOW, at(300))));
      expect(got.filter((n) => n !== null).sort()).toEqual([0, 1, 2]);
      const without = got.indexOf(null);
      const holder = `r${without === 0 ? 2 : 1}`;
      const its = got[Number(holder.slice(1)) - 1];
      expect(await slots.acquire(holder, at(1), at(300))).toBe(its);
      await slots.release('nobody', null);
      expect(await slots.acquire(`r${without + 1}`, at(1), at(300))).toBeNull();
      await slots.release(holder, its ?? null);
      expect(await slots.acquire(`r${without + 1}`, at(2), at(300))).toBe(its);
      // Released without its number: every slot it may hold is freed.
      await slots.release(`r${without + 1}`, null);
      expect(await slots.acquire('r9', at(3), at(300))).toBe(its);
      // Slots run out: a crashed holder's slot comes back (after its end, not at it).
      expect(await slots.acquire('late', at(300), at(600))).toBeNull();
      expect(await slots.acquire('late', at(301), at(600))).not.toBeNull();
    });
  });

  describe('drift alerts', () => {
    const alert = (id: string, profileId = 'org-admin') => ({ id, profileId, accountId: '111111111111', permissionSetArn: 'arn:ps/ps-1', instanceArn: 'arn:aws:sso:::instance/ssoins-1', principalType: 'USER' as const, principalId: `p-${id}`, detectedAt: NOW });
    const detected = (id: string): DomainEvent => ({
      type: 'drift.detected',
      requestId: null,
      actor: null,
      details: { driftId: id, profileId: 'org-admin', profileName: 'Org admin', accountId: '111111111111', permissionSetArn: 'arn:ps/ps-1', principalType: 'USER', principalId: `p-${id}`, mode: 'alert' },
    });
    const resolved = (id: string): DomainEvent => ({ type: 'drift.resolved', requestId: null, actor: null, details: { driftId: id, note: 'gone' } });

    it('raises once while open, closes once, and lists what is open', async () => {
      const s = await make();
      expect(await s.drift.raise(alert('d1'), detected('d1'), at(1))).toBe(true);
      expect(await s.drift.raise(alert('d1'), detected('d1'), at(2))).toBe(false);
      expect(await s.drift.raise(alert('d2'), detected('d2'), at(3))).toBe(true);
      expect(await s.drift.raise(alert('d3', 'other'), detected('d3'), at(3))).toBe(true);
      expect((await s.drift.openIds('org-admin')).sort()).toEqual(['d1', 'd2']);
      expect(await s.drift.openIds('other')).toEqual(['d3']);
      expect(await s.drift.openIds('none')).toEqual([]);
      expect(await s.drift.get('d1')).toMatchObject({ ...alert('d1'), status: 'open', detectedAt: at(1), alertMessage: null });
      expect(await s.drift.get('d9')).toBeNull();
      expect(await s.drift.close('d1', 'resolved', resolved('d1'), at(4))).toBe(true);
      expect(await s.drift.close('d1', 'revoked', resolved('d1'), at(5))).toBe(false);
      expect(await s.drift.close('d9', 'revoked', resolved('d9'), at(5))).toBe(false);
      expect(await s.drift.get('d1')).toMatchObject({ status: 'resolved' });
      expect(await s.drift.openIds('org-admin')).toEqual(['d2']);
      await s.drift.close('d2', 'revoked', resolved('d2'), at(6));
      expect(await s.drift.openIds('org-admin')).toEqual([]);
      // Seen again after it closed: a new alert on the same item, its events queued after the old ones.
      expect(await s.drift.raise(alert('d1'), detected('d1'), at(7))).toBe(true);
      expect(await s.drift.get('d1')).toMatchObject({ status: 'open', detectedAt: at(7) });
      expect(await s.drift.openIds('org-admin')).toEqual(['d1']);
      const queued = await s.outbox.read({ pk: 'DRIFT#d1', sk: 'DRIFT' });
      expect(queued?.outbox.map((e) => [e.type, e.at])).toEqual([
        ['drift.detected', at(1)],
        ['drift.resolved', at(4)],
        ['drift.detected', at(7)],
      ]);
    });
  });

  describe('the freeze', () => {
    it('sets, replaces and lifts the freeze, queuing its events', async () => {
      const s = await make();
      expect(await s.freeze.get()).toBeNull();
      expect(await s.freeze.lift(at(1), freezeEvent('freeze.lifted'))).toBe(false);
      await s.freeze.set({ by: 'ops', reason: 'leak', at: at(2) }, freezeEvent('freeze.set'));
      expect(await s.freeze.get()).toEqual({ by: 'ops', reason: 'leak', at: at(2) });
      await s.freeze.set({ by: 'sec', reason: 'again', at: at(3) }, freezeEvent('freeze.set'));
      expect(await s.freeze.get()).toEqual({ by: 'sec', reason: 'again', at: at(3) });
      expect(await s.freeze.lift(at(4), freezeEvent('freeze.lifted'))).toBe(true);
      expect(await s.freeze.get()).toBeNull();
      expect(await s.freeze.lift(at(5), freezeEvent('freeze.lifted'))).toBe(false);
      const item = await s.outbox.read({ pk: 'SYSTEM', sk: 'FREEZE' });
      expect(item?.outbox.map((e) => [e.type, e.at])).toEqual([
        ['freeze.set', at(2)],
        ['freeze.set', at(3)],
        ['freeze.lifted', at(4)],
      ]);
    });
  });

  describe('App Home visitors', () => {
    it('remembers who opened the home and when, keeps a note until the next opening, and lists recent visitors', async () => {
      const s = await make();
      expect(await s.homeVisitors.get('UANN')).toBeNull();
      await s.homeVisitors.opened('UANN', at(1));
      await s.homeVisitors.opened('UBOB', at(5));
      expect(await s.homeVisitors.get('UANN')).toEqual({ slackUserId: 'UANN', openedAt: at(1), note: null });
      await s.homeVisitors.note('UANN', 'Approved: 1 of 2', at(2));
      expect(await s.homeVisitors.get('UANN')).toEqual({ slackUserId: 'UANN', openedAt: at(1), note: { text: 'Approved: 1 of 2', at: at(2) } });
      expect((await s.homeVisitors.since(at(1))).sort()).toEqual(['UANN', 'UBOB']);
      expect(await s.homeVisitors.since(at(2))).toEqual(['UBOB']);
      await s.homeVisitors.opened('UANN', at(6));
      expect(await s.homeVisitors.get('UANN')).toEqual({ slackUserId: 'UANN', openedAt: at(6), note: null });
      // A note for someone never seen opening it (a home published before visits were kept) counts as a visit then.
      await s.homeVisitors.note('UCAT', 'Denied.', at(7));
      expect(await s.homeVisitors.get('UCAT')).toEqual({ slackUserId: 'UCAT', openedAt: at(7), note: { text: 'Denied.', at: at(7) } });
      expect((await s.homeVisitors.since(at(6))).sort()).toEqual(['UANN', 'UCAT']);
    });
  });

  describe('the outbox', () => {
    async function twoEvents(s: Stores, id: string, when = NOW) {
      await s.requests.create(request(id, { updatedAt: when }), [submitted(id), approvalGiven(id, 1)], at(3600));
      const item = await s.outbox.read(requestKey(id));
      const [first, second] = item?.outbox ?? [];
      if (!first || !second) throw new Error('events missing');
      return { key: requestKey(id), first, second };
    }

    it('lists items with undelivered events oldest first, up to now, and system events too', async () => {
      const s = await make();
      await twoEvents(s, 'req_b', at(20));
      await twoEvents(s, 'req_a', at(10));
      await s.outbox.appendSystem([{ type: 'config.loaded', requestId: null, actor: null, details: { policyPath: 'p', policySha256: 'h', profiles: [], store: 'x' } }], at(15));
      expect((await s.outbox.pending(null)).map((p) => p.key.pk)).toEqual(['REQ#req_a', 'SYSTEM', 'REQ#req_b']);
      expect((await s.outbox.pending(at(15))).map((p) => p.key.pk)).toEqual(['REQ#req_a', 'SYSTEM']);
      expect((await s.outbox.pending(at(5))).map((p) => p.key.pk)).toEqual([]);
      const listed = (await s.outbox.pending(null))[0];
      expect(listed?.outbox.map((e) => e.type)).toEqual(['request.submitted', 'approval.given']);
      expect(listed?.item).toMatchObject({ id: 'req_a', status: 'PENDING', outboxAt: at(10) });
      expect(await s.outbox.read({ pk: 'REQ#none', sk: 'REQUEST' })).toBeNull();
      expect((await s.outbox.read(systemOutboxKey()))?.outbox.map((e) => e.type)).toEqual(['config.loaded']);
      // Deferred: out of the list until then.
      await s.outbox.defer(requestKey('req_a'), at(30));
      expect((await s.outbox.pending(at(25))).map((p) => p.key.pk)).toEqual(['SYSTEM', 'REQ#req_b']);
      expect((await s.outbox.pending(at(30))).map((p) => p.key.pk)).toEqual(['SYSTEM', 'REQ#req_b', 'REQ#req_a']);
      // Deferring an item not in the outbox does not put it there (nor create it).
      await s.outbox.defer({ pk: 'REQ#none', sk: 'REQUEST' }, at(1));
      expect(await s.raw({ pk: 'REQ#none', sk: 'REQUEST' })).toBeUndefined();
    });

    it('records where events are in the chain only on the events at those positions', async () => {
      const s = await make();
      const { key, first, second } = await twoEvents(s, 'req_c');
      expect(await s.outbox.markChained(key, [{ index: 1, eventId: second.id, seq: 8 }])).toBe(true);
      expect(await s.outbox.markChained(key, [{ index: 0, eventId: second.id, seq: 8 }])).toBe(false);
      expect(await s.outbox.markChained(key, [{ index: 2, eventId: second.id, seq: 8 }])).toBe(false);
      expect(await s.outbox.markChained({ pk: 'REQ#none', sk: 'REQUEST' }, [{ index: 0, eventId: first.id, seq: 7 }])).toBe(false);
      // All or nothing.
      expect(await s.outbox.markChained(key, [{ index: 0, eventId: first.id, seq: 7 }, { index: 1, eventId: first.id, seq: 8 }])).toBe(false);
      expect((await s.outbox.read(key))?.outbox.map((e) => [e.done?.chain, e.chainSeq])).toEqual([
        [undefined, undefined],
        [true, 8],
      ]);
    });

    it('lets one replica deliver an item at a time, only while it has events, and says whose claim it replaced', async () => {
      const s = await make();
      const { key } = await twoEvents(s, 'req_f');
      expect(await s.outbox.claim(key, 'one', NOW, at(30))).toEqual({ owner: null, until: null });
      expect(await s.outbox.claim(key, 'two', at(10), at(40))).toBeNull();
      expect(await s.outbox.claim(key, 'two', at(30), at(40))).toBeNull();
      expect(await s.outbox.claim(key, 'one', at(10), at(40))).toEqual({ owner: 'one', until: at(30) });
      // Ran out: another replica takes over, told whose claim that was.
      expect(await s.outbox.claim(key, 'two', at(41), at(70))).toEqual({ owner: 'one', until: at(40) });
      await s.outbox.release(key, 'one');
      expect(await s.outbox.claim(key, 'one', at(42), at(70))).toBeNull();
      await s.outbox.release(key, 'two');
      expect(await s.outbox.claim(key, 'one', at(42), at(70))).toEqual({ owner: null, until: null });
      expect(await s.outbox.claim({ pk: 'REQ#none', sk: 'REQUEST' }, 'one', NOW, at(30))).toBeNull();
    });

    it('drops the delivered head with where it went in one write; the last one takes the item out of the outbox with its claim', async () => {
      const s = await make();
      const { key, first, second } = await twoEvents(s, 'req_g');
      await s.outbox.claim(key, 'one', NOW, at(30));
      const thread = { path: ['slack', 'auditThread'], value: { channel: 'CA', ts: '9.9' } };
      expect(await s.outbox.delivered(key, second.id, [thread], false)).toBe(false);
      expect(await s.outbox.delivered(key, first.id, [thread], true)).toBe(false);
      expect(await s.outbox.delivered(key, first.id, [thread, { path: ['slack', 'approvalMessage'], value: { channel: 'CP', ts: '1.2' } }], false)).toBe(true);
      expect((await s.requests.get('req_g'))?.slack).toMatchObject({ auditThread: { channel: 'CA', ts: '9.9' }, approvalMessage: { channel: 'CP', ts: '1.2' } });
      expect((await s.raw(key))?.deliveryOwner).toBe('one');
      expect((await s.outbox.pending(null)).map((p) => p.key.pk)).toEqual(['REQ#req_g']);
      expect(await s.outbox.delivered(key, second.id, [], true)).toBe(true);
      const item = await s.raw(key);
      expect(item?.outbox).toEqual([]);
      for (const a of ['outboxPk', 'outboxAt', 'deliveryOwner', 'deliveryUntil']) expect(item?.[a]).toBeUndefined();
      expect(await s.outbox.pending(null)).toEqual([]);
      expect(await s.outbox.delivered(key, second.id, [], true)).toBe(false);
      // A path whose parent is missing is an invalid update: refused, nothing written.
      const { key: other, first: head } = await twoEvents(s, 'req_h');
      await expect(errorOf(s.outbox.delivered(other, head.id, [{ path: ['nothing', 'here'], value: 1 }], false))).resolves.toMatchObject({ name: 'ValidationException' });
      expect((await s.outbox.read(other))?.outbox).toHaveLength(2);
    });

    it('records how far a stopped delivery got, what is chained and when to retry, and lets go of our claim only', async () => {
      const s = await make();
      const { key, first, second } = await twoEvents(s, 'req_i');
      await s.outbox.claim(key, 'one', NOW, at(30));
      const progress = { eventId: first.id, done: ['approvalMessage' as const], tried: ['thread' as const], stored: [{ path: ['slack', 'approvalMessage'], value: { channel: 'CP', ts: '1.2' } }] };
      const chained = [
        { index: 0, eventId: first.id, seq: 3 },
        { index: 1, eventId: second.id, seq: 4 },
      ];
      expect(await s.outbox.stopped(key, 'two', progress, chained, at(60))).toBe(false);
      expect(await s.outbox.stopped(key, 'one', { ...progress, eventId: second.id }, chained, at(60))).toBe(false);
      expect(await s.outbox.stopped(key, 'one', progress, chained, at(60))).toBe(true);
      const item = await s.raw(key);
      expect(item?.deliveryOwner).toBeUndefined();
      expect(item?.outboxAt).toBe(at(60));
      expect((await s.requests.get('req_i'))?.slack.approvalMessage).toEqual({ channel: 'CP', ts: '1.2' });
      expect((await s.outbox.read(key))?.outbox.map((e) => [e.done, e.tried, e.chainSeq])).toEqual([
        [{ approvalMessage: true, chain: true }, { thread: true }, 3],
        [{ chain: true }, {}, 4],
      ]);
      // Unclaimed: anyone may record (the claim was let go by a pass that ended).
      expect(await s.outbox.stopped(key, 'two', null, [], at(90))).toBe(true);
      expect((await s.raw(key))?.outboxAt).toBe(at(90));
    });
  });

  describe('the chain', () => {
    it('appends at a free position only, and reads the head, a record and the whole chain in order', async () => {
      const s = await make();
      expect(await s.outbox.chainHead()).toBeNull();
      expect(await s.outbox.chainFrom(1)).toEqual([]);
      expect(await s.outbox.putChainRecord(record(1, 'e1'))).toBe(true);
      expect(await s.outbox.putChainRecord(record(1, 'e2'))).toBe(false);
      expect(await s.outbox.putChainRecord(record(2, 'e2', { prevHash: 'h1', keyId: 'k1', requestId: 'req_a', actor: { slackUserId: 'U1', principalId: null }, details: { a: [1, { b: null }] } }))).toBe(true);
      // Positions are ordered as numbers, not as text.
      expect(await s.outbox.putChainRecord(record(10, 'e10'))).toBe(true);
      expect(await s.outbox.chainHead()).toEqual(record(10, 'e10'));
      expect((await s.outbox.chainFrom(1))[0]).toEqual(record(1, 'e1'));
      expect((await s.outbox.chainFrom(2))[0]).toEqual(record(2, 'e2', { prevHash: 'h1', keyId: 'k1', requestId: 'req_a', actor: { slackUserId: 'U1', principalId: null }, details: { a: [1, { b: null }] } }));
      const all: ChainRecord[] = [];
      for await (const r of s.outbox.chain()) all.push(r);
      expect(all.map((r) => r.seq)).toEqual([1, 2, 10]);
      expect((await s.outbox.chainFrom(2)).map((r) => r.seq)).toEqual([2, 10]);
      expect((await s.outbox.chainFrom(0)).map((r) => r.seq)).toEqual([1, 2, 10]);
      expect(await s.outbox.chainFrom(11)).toEqual([]);
    });
  });

  describe('checkpoints', () => {
    it('keeps the first checkpoint of a record and answers the newest', async () => {
      const s = await make();
      expect(await s.checkpoints.newest()).toBeNull();
      await s.checkpoints.put({ seq: 2, hash: 'a', at: at(1), keyId: null, mac: null });
      await s.checkpoints.put({ seq: 12, hash: 'b', at: at(2), keyId: 'k', mac: 'm' });
      await s.checkpoints.put({ seq: 12, hash: 'c', at: at(3), keyId: null, mac: null });
      await s.checkpoints.put({ seq: 9, hash: 'd', at: at(4), keyId: null, mac: null });
      expect(await s.checkpoints.newest()).toEqual({ seq: 12, hash: 'b', at: at(2), keyId: 'k', mac: 'm' });
    });
  });

  describe('session denials', () => {
    const PS = 'arn:aws:sso:::permissionSet/ssoins-0123456789abcdef/ps-0123456789abcdef';
    it('keeps each user\'s newest wish with every account, and never moves it back', async () => {
      const s = await make();
      await s.sessionDenies.want(PS, 'u1', at(10), '111111111111');
      await s.sessionDenies.want(PS, 'u1', at(5), '222222222222');
      await s.sessionDenies.want(PS, 'u2', at(7), '111111111111');
      expect(await s.sessionDenies.wanted(PS)).toEqual({ u1: { instant: at(10), accounts: ['111111111111', '222222222222'] }, u2: { instant: at(7), accounts: ['111111111111'] } });
      await s.sessionDenies.want(PS, 'u1', at(20), '111111111111');
      expect((await s.sessionDenies.wanted(PS)).u1?.instant).toBe(at(20));
    });

    it('locks the record for one owner, saves it with its prune time, and lists it once that time comes', async () => {
      const s = await make();
      expect(await s.sessionDenies.lock(PS, 'a', NOW, at(6))).toEqual({ denies: {} });
      expect(await s.sessionDenies.lock(PS, 'b', at(1), at(7))).toBeNull();
      expect(await s.sessionDenies.renew(PS, 'a', at(12))).toBe(true);
      const denies = { u1: { instant: at(1), until: at(3601), accounts: ['111111111111'] } };
      expect(await s.sessionDenies.saveAndUnlock(PS, 'b', { denies }, at(3601))).toBe(false);
      expect(await s.sessionDenies.saveAndUnlock(PS, 'a', { denies }, at(3601))).toBe(true);
      expect(await s.sessionDenies.get(PS)).toEqual({ denies });
      expect(await s.sessionDenies.due(at(3600))).toEqual([]);
      expect(await s.sessionDenies.due(at(3601))).toEqual([PS]);
      expect(await s.sessionDenies.lock(PS, 'b', at(2), at(8))).toEqual({ denies });
      expect(await s.sessionDenies.saveAndUnlock(PS, 'b', { denies: {} }, null)).toBe(true);
      expect(await s.sessionDenies.due(at(99_999))).toEqual([]);
      expect(await s.sessionDenies.unlock(PS, 'b')).toBe(false);
    });
  });

  describe('emergency uses', () => {
    it('takes uses up to the limit per person and profile within the window, and none of two at once beyond it', async () => {
      const s = await make();
      const day = 24 * 3600 * 1000;
      expect(await s.emergencyUses.take('U1', 'org-admin', NOW, day, 1)).toBeNull();
      expect(await s.emergencyUses.take('U1', 'org-admin', at(60), day, 1)).toEqual([NOW]);
      // Another profile, another person: counted apart.
      expect(await s.emergencyUses.take('U1', 'billing', at(60), day, 1)).toBeNull();
      expect(await s.emergencyUses.take('U2', 'org-admin', at(60), day, 1)).toBeNull();
      // A day later the old use no longer counts.
      expect(await s.emergencyUses.take('U1', 'org-admin', at(24 * 3600 + 1), day, 1)).toBeNull();
      const raced = await Promise.all([s.emergencyUses.take('U3', 'org-admin', NOW, day, 1), s.emergencyUses.take('U3', 'org-admin', at(1), day, 1)]);
      expect(raced.filter((r) => r === null)).toHaveLength(1);
    });
  });
});
