/**
 * Granting, and cleaning up after a grant Identity Center never confirmed, including every
 * crash branch: on the in-memory ports and a virtual clock.
 */
import { describe, expect, it } from 'vitest';
import { addDuration } from '../../src/domain/duration.ts';
import type { AccessRequest } from '../../src/domain/request.ts';
import { advance } from '../../src/services/advance.ts';
import { approve } from '../../src/services/approve.ts';
import { cleanUpUnconfirmedGrant } from '../../src/services/cleanup.ts';
import { grant } from '../../src/services/grant.ts';
import { submitRequest } from '../../src/services/submit-request.ts';
import { dyingReplica, leaseHolderAt, memoryContext, PEOPLE, type MemoryWorld, type MemoryWorldOptions } from '../support/memory.ts';

const { requester, approver1, approver2, outsider } = PEOPLE;

async function approved(w: MemoryWorld): Promise<string> {
  const r = await submitRequest(w.ctx, requester.slack, { profileId: 'org-admin', duration: 'PT1H', justification: 'Production is down and the org SCP needs a fix', ticket: null });
  if (!r.ok) throw new Error('refused');
  await approve(w.ctx, r.request.id, approver1.slack);
  await approve(w.ctx, r.request.id, approver2.slack);
  return r.request.id;
}

/** The world after a grant ran to the end, with nothing left running. */
function expectIdle(w: MemoryWorld): void {
  expect(w.clock.pendingTimers()).toBe(0);
  expect(w.store.assignmentItem(w.target())?.lockOwner).toBeUndefined();
}

/** Runs the request's sweeper steps, each when it comes due, until its status is no longer `status`. */
async function sweepWhile(w: MemoryWorld, id: string, status: AccessRequest['status'], max = 200): Promise<AccessRequest> {
  for (let i = 0; i < max; i++) {
    const r = await w.get(id);
    if (r.status !== status) return r;
    const due = w.store.dueAt(id);
    if (due && due > w.clock.now()) w.clock.advanceTo(due);
    await advance(w.ctx, id);
  }
  throw new Error(`${id} stayed ${status}`);
}

const emptySlots = (w: MemoryWorld) => w.store.slots.holders().every((h) => h === null);

describe('grant', () => {
  it('creates the assignment, confirms it, records the holder and starts the time box', async () => {
    const w = memoryContext();
    const id = await approved(w);
    await grant(w.ctx, id);
    const r = await w.get(id);
    expect(r.status).toBe('ACTIVE');
    expect(w.ic.holds(w.target())).toBe(true);
    expect(await w.ctx.assignments.get(w.target())).toEqual({ holders: [id], heldBefore: null, creating: null });
    const [op] = w.ic.operations('create');
    expect(r.grant).toMatchObject({ creationRequestId: op?.requestId, alreadyHeld: null, attempts: 1, failure: null });
    // The time box starts no later than Identity Center's confirmation.
    expect(Date.parse(r.grant.grantedAt ?? '')).toBeGreaterThanOrEqual(op?.startedAt ?? Infinity);
    expect(Date.parse(r.grant.grantedAt ?? '')).toBeLessThan(op?.dueAt ?? 0);
    expect(r.grant.expiresAt).toBe(addDuration(r.grant.grantedAt ?? '', 'PT1H'));
    // The sweeper next looks at it to warn the requester, expiryWarning (10 minutes) before the end.
    expect(w.store.dueAt(id)).toBe(addDuration(r.grant.expiresAt ?? '', '-PT10M'));
    expect(w.eventTypes(id).slice(-2)).toEqual(['grant.started', 'grant.succeeded']);
    expect(emptySlots(w)).toBe(true);
    expectIdle(w);
  });

  it('writes the request four times: the lease is taken with GRANTING and ends with ACTIVE, no claim or release of its own', async () => {
    const w = memoryContext();
    const id = await approved(w);
    const from = w.store.table.writes.length;
    const watched = leaseHolderAt(w, id, 'startCreation');
    await grant(watched.ctx, id);
    expect((await w.get(id)).status).toBe('ACTIVE');
    expect(watched.holders).toEqual([w.ctx.owner]);
    // REQ: GRANTING, the creation attempt, its id, ACTIVE; ASN: lock, creation marker, holders; a slot taken and given back.
    expect(w.store.writesByKind(from)).toEqual({ REQ: 4, ASN: 3, CREATION_SLOT: 2 });
    expect(w.store.requestItem(id)).not.toHaveProperty('leaseOwner');
    expectIdle(w);
  });

  it('queues a grant turned away for want of a creation slot as soon as one is freed here', async () => {
    const w = memoryContext({ slots: 1 });
    const id = await approved(w);
    expect(await w.ctx.slots.acquire('req_other', w.clock.now(), w.clock.in(300_000))).toBe(0);
    await grant(w.ctx, id);
    expect((await w.get(id)).status).toBe('GRANTING');
    w.signals.work.length = 0;
    await w.ctx.slots.release('req_other', 0);
    expect(w.signals.work).toEqual([id]);
    await grant(w.ctx, id);
    expect((await w.get(id)).status).toBe('ACTIVE');
  });

  it('creates nothing when the user already holds the assignment, and remembers it was held before', async () => {
    const w = memoryContext();
    w.ic.addAssignment(w.target());
    const id = await approved(w);
    await grant(w.ctx, id);
    const why = 'the user held this assignment before breakglass granted it';
    expect(await w.get(id)).toMatchObject({ status: 'ACTIVE', grant: { alreadyHeld: why, creationRequestId: null } });
    expect(await w.ctx.assignments.get(w.target())).toEqual({ holders: [id], heldBefore: why, creating: null });
    expect(w.ic.operations()).toEqual([]);
    expectIdle(w);
  });

  it('says so when the policy lists the access as standing access', async () => {
    const w = memoryContext({ policy: { standingAccess: [{ profile: 'org-admin', email: requester.email.toUpperCase() }] } });
    w.ic.addAssignment(w.target());
    const id = await approved(w);
    await grant(w.ctx, id);
    expect((await w.get(id)).grant.alreadyHeld).toBe('the policy lists it as standing access');
    expect(w.ic.operations()).toEqual([]);
  });

  it('joins another live grant of the same assignment instead of creating it again', async () => {
    const w = memoryContext();
    const first = await approved(w);
    await grant(w.ctx, first);
    const second = await approved(w);
    await grant(w.ctx, second);
    expect(await w.get(second)).toMatchObject({ status: 'ACTIVE', grant: { alreadyHeld: `already granted by ${first}` } });
    expect(await w.ctx.assignments.get(w.target())).toEqual({ holders: [first, second], heldBefore: null, creating: null });
    expect(w.ic.operations('create')).toHaveLength(1);
  });

  it('drops a holder named in the record whose grant ended, and creates the assignment', async () => {
    const w = memoryContext();
    await w.plant('req_ended', 'REVOKED');
    await w.plantRecord({ holders: ['req_ended'], heldBefore: null, creating: null });
    const id = await approved(w);
    await grant(w.ctx, id);
    expect(await w.get(id)).toMatchObject({ status: 'ACTIVE', grant: { alreadyHeld: null } });
    expect(w.ic.holds(w.target())).toBe(true);
    expect(await w.ctx.assignments.get(w.target())).toEqual({ holders: [id], heldBefore: null, creating: null });
  });

  it('drops a creation marker whose request no longer creates anything, rather than waiting on it forever', async () => {
    const w = memoryContext();
    await w.plant('req_gave_up', 'REVOKED');
    await w.plantRecord({ holders: [], heldBefore: null, creating: 'req_gave_up' });
    const id = await approved(w);
    await grant(w.ctx, id);
    expect((await w.get(id)).status).toBe('ACTIVE');
    expect(w.ic.holds(w.target())).toBe(true);
    expect((await w.ctx.assignments.get(w.target())).creating).toBeNull();
  });

  it('waits while another request\'s creation of the assignment is unsettled, and goes on once it is', async () => {
    const w = memoryContext();
    await w.plant('req_other', 'GRANTING');
    await w.plantRecord({ holders: [], heldBefore: null, creating: 'req_other' });
    const id = await approved(w);
    await grant(w.ctx, id);
    expect((await w.get(id)).status).toBe('GRANTING');
    expect(w.store.dueAt(id)).toBe(w.clock.in(1000));
    expect(w.ic.calls.map((c) => c.operation)).not.toContain('startCreation');
    expect((await w.ctx.assignments.get(w.target())).creating).toBe('req_other');
    // The other grant failed and left nothing behind: its marker no longer holds anyone up.
    const other = await w.get('req_other');
    await w.ctx.requests.update('req_other', { status: 'GRANTING', version: other.version }, { set: { status: 'FAILED' } }, w.clock.now());
    const r = await sweepWhile(w, id, 'GRANTING');
    expect(r.status).toBe('ACTIVE');
    expect(w.ic.holds(w.target())).toBe(true);
  });

  it('waits while a revoke is deleting the assignment, rather than count on what is being removed', async () => {
    const w = memoryContext();
    w.ic.addAssignment(w.target());
    await w.plant('req_old', 'REVOKING', { revoke: { reason: 'expired', by: null, startedAt: w.clock.now(), deletionRequestId: 'del-1', attempts: 0, lastError: null, kept: null, doneAt: null } });
    await w.plantRecord({ holders: ['req_old'], heldBefore: null, creating: null });
    const id = await approved(w);
    await grant(w.ctx, id);
    expect((await w.get(id)).status).toBe('GRANTING');
    expect(w.store.dueAt(id)).toBe(w.clock.in(1000));
    expect(await w.ctx.assignments.get(w.target())).toEqual({ holders: ['req_old'], heldBefore: null, creating: null });
    expect(w.ic.operations()).toEqual([]);
  });

  describe('re-checks the policy at grant time', () => {
    it('refuses a forged APPROVED request with no approvals and a duration never offered, asking nothing of Identity Center', async () => {
      const w = memoryContext();
      await w.plant('req_forged', 'APPROVED', { duration: 'P365D', approvals: [] });
      await grant(w.ctx, 'req_forged');
      const r = await w.get('req_forged');
      expect(r).toMatchObject({ status: 'FAILED', grant: { cleanupPending: false } });
      expect(r.grant.failure).toMatch(/P365D is not a duration/);
      // Refused before it was ever GRANTING: no grant started.
      expect(w.store.events('req_forged')).toEqual([expect.objectContaining({ type: 'grant.failed', details: expect.objectContaining({ refused: true }) })]);
      expect(w.store.dueAt('req_forged')).toBeNull();
      expect(w.ic.operations()).toEqual([]);
      expect(w.ic.holds(w.target())).toBe(false);
    });

    it('refuses approvals that do not come from enough current approvers', async () => {
      const w = memoryContext();
      await w.plant('req_thin', 'APPROVED', { approvals: [{ slackUserId: approver1.slack, at: w.clock.now() }, { slackUserId: outsider.slack, at: w.clock.now() }] });
      await grant(w.ctx, 'req_thin');
      expect((await w.get('req_thin')).grant.failure).toMatch(/only 1 of the 2 approvals/);
      expect(w.ic.operations()).toEqual([]);
    });

    it('re-checks a GRANTING request for which nothing was asked of Identity Center yet (a crash before the first attempt)', async () => {
      const w = memoryContext();
      await w.plant('req_resumed', 'GRANTING', { approvals: [{ slackUserId: approver1.slack, at: w.clock.now() }] });
      await grant(w.ctx, 'req_resumed');
      expect(await w.get('req_resumed')).toMatchObject({ status: 'FAILED', grant: { failure: expect.stringMatching(/only 1 of the 2 approvals/) } });
      expect(w.ic.operations()).toEqual([]);
    });

    it('grants nothing while frozen', async () => {
      const w = memoryContext();
      const id = await approved(w);
      await w.ctx.freeze.set({ by: 'ops', reason: 'leak', at: w.clock.now() }, { type: 'freeze.set', requestId: null, actor: null, details: { operator: 'ops', reason: 'leak' } });
      await grant(w.ctx, id);
      expect((await w.get(id)).grant.failure).toMatch(/frozen/);
      expect(w.ic.operations()).toEqual([]);
    });
  });

  it('fails when Identity Center says the creation FAILED, leaving nothing to clean up', async () => {
    const w = memoryContext();
    w.ic.failNextCreations(1, 'Received a 404 status error: the USER assignee was not found');
    const id = await approved(w);
    await grant(w.ctx, id);
    const r = await w.get(id);
    expect(r).toMatchObject({ status: 'FAILED', grant: { cleanupPending: false } });
    expect(r.grant.failure).toContain('the USER assignee was not found');
    expect(w.store.dueAt(id)).toBeNull();
    expect(await w.ctx.assignments.get(w.target())).toEqual({ holders: [], heldBefore: null, creating: null });
    expect(w.ic.holds(w.target())).toBe(false);
    expect(emptySlots(w)).toBe(true);
    expectIdle(w);
  });

  it('declares an unconfirmed grant failed at its timeout, and keeps the creation marker for the cleanup', async () => {
    const w = memoryContext({ statusDelayMs: 20 * 60_000 });
    const id = await approved(w);
    const started = w.clock.ms();
    const r = await sweepWhile(w, id, 'APPROVED').then(() => sweepWhile(w, id, 'GRANTING'));
    expect(r).toMatchObject({ status: 'FAILED', grant: { cleanupPending: true } });
    expect(r.grant.failure).toContain('did not confirm the assignment within 300 seconds');
    expect(w.clock.ms() - started).toBeGreaterThanOrEqual(w.ctx.timing.grantTimeoutMs);
    expect(w.clock.ms() - started).toBeLessThan(w.ctx.timing.grantTimeoutMs + w.ctx.timing.pollRoundMs + 5_000);
    expect((await w.ctx.assignments.get(w.target())).creating).toBe(id);
    expect(w.store.dueAt(id)).toBe(w.clock.in(5000));
    expect(w.ic.operations('create')).toHaveLength(1);
    expectIdle(w);
  });

  it('retries a throttled creation and finishes the grant', async () => {
    const w = memoryContext();
    const id = await approved(w);
    w.ic.throttleNext('startCreation');
    await grant(w.ctx, id);
    expect((await w.get(id)).status).toBe('GRANTING');
    const r = await sweepWhile(w, id, 'GRANTING');
    expect(r.status).toBe('ACTIVE');
    expect(w.ic.operations('create')).toHaveLength(1);
  });

  describe('after a crash between asking for the creation and storing its id', () => {
    async function crashed(w: MemoryWorld): Promise<AccessRequest> {
      const asked = w.clock.now();
      const slot = await w.ctx.slots.acquire('req_crash', asked, w.clock.in(300_000));
      const grantState = { startedAt: asked, creationAttemptedAt: asked, creationSlot: slot, creationRequestId: null, grantedAt: null, expiresAt: null, alreadyHeld: null, failure: null, cleanupPending: false, attempts: 0 };
      const r = await w.plant('req_crash', 'GRANTING', { grant: grantState });
      await w.plantRecord({ holders: [], heldBefore: null, creating: 'req_crash' });
      // The replica died; its lease ran out a while ago.
      w.clock.advance(60_000);
      return r;
    }

    it('takes an assignment that landed as its own, without creating it again, and starts the time box at the attempt', async () => {
      const w = memoryContext();
      const planted = await crashed(w);
      w.ic.addAssignment(w.target());
      await grant(w.ctx, 'req_crash');
      const r = await w.get('req_crash');
      expect(r).toMatchObject({ status: 'ACTIVE', grant: { alreadyHeld: null, grantedAt: planted.grant.creationAttemptedAt } });
      expect(w.ic.operations()).toEqual([]);
      // It is ours: recorded as created by this grant, not as held before, so the revoke removes it.
      expect(await w.ctx.assignments.get(w.target())).toEqual({ holders: ['req_crash'], heldBefore: null, creating: null });
      expect(emptySlots(w)).toBe(true);
    });

    it('creates the assignment when it never landed', async () => {
      const w = memoryContext();
      await crashed(w);
      await grant(w.ctx, 'req_crash');
      expect(await w.get('req_crash')).toMatchObject({ status: 'ACTIVE', grant: { alreadyHeld: null, attempts: 1 } });
      expect(w.ic.operations('create')).toHaveLength(1);
      expect(w.ic.holds(w.target())).toBe(true);
      expect(await w.ctx.assignments.get(w.target())).toEqual({ holders: ['req_crash'], heldBefore: null, creating: null });
      expect(emptySlots(w)).toBe(true);
    });
  });

  describe('a replica killed mid-grant, and another taking over once its lease runs out', () => {
    it('killed right after CreateAccountAssignment returned, before its id was stored: the assignment is taken as its own, not created twice', async () => {
      const w = memoryContext();
      const id = await approved(w);
      const dying = dyingReplica(w, 'ic', 'startCreation');
      await expect(grant(dying, id)).rejects.toThrow('killed');
      expect((await w.get(id)).grant).toMatchObject({ creationAttemptedAt: expect.any(String), creationRequestId: null });
      w.clock.advance(w.ctx.timing.leaseMs + 1);
      const r = await sweepWhile(w, id, 'GRANTING');
      expect(r).toMatchObject({ status: 'ACTIVE', grant: { alreadyHeld: null } });
      expect(w.ic.operations('create')).toHaveLength(1);
      expect(await w.ctx.assignments.get(w.target())).toEqual({ holders: [id], heldBefore: null, creating: null });
      expect(emptySlots(w)).toBe(true);
      expectIdle(w);
    });

    it('killed after storing the creation id: the other replica confirms that creation, and the time box starts before the confirmation', async () => {
      const w = memoryContext({ statusDelayMs: 3000 });
      const id = await approved(w);
      const dying = dyingReplica(w, 'requests', 'update', { when: (...args) => (args[2] as { set?: Partial<AccessRequest> }).set?.grant?.creationRequestId != null });
      await expect(grant(dying, id)).rejects.toThrow('killed');
      const stored = (await w.get(id)).grant.creationRequestId;
      expect(stored).toEqual(expect.any(String));
      w.clock.advance(w.ctx.timing.leaseMs + 1);
      const r = await sweepWhile(w, id, 'GRANTING');
      expect(r.status).toBe('ACTIVE');
      expect(w.ic.operations('create').map((o) => o.requestId)).toEqual([stored]);
      // Down until after the confirmation: the time box starts at the creation attempt, the last moment it was known unconfirmed.
      expect(r.grant.grantedAt).toBe(r.grant.creationAttemptedAt);
    });
  });

  it('starts the time box at the last moment the creation was seen in progress, when the bot was down before recording the confirmation', async () => {
    const w = memoryContext();
    const asked = w.clock.now();
    const creationId = await w.ic.startCreation(w.target());
    w.clock.advance(500);
    const seen = w.clock.now();
    w.clock.advance(10 * 60_000);
    const grantState = { startedAt: asked, creationAttemptedAt: asked, creationSlot: null, creationRequestId: creationId, grantedAt: null, expiresAt: null, alreadyHeld: null, failure: null, cleanupPending: false, attempts: 1, pendingSeenAt: seen };
    await w.plant('req_crashed', 'GRANTING', { grant: grantState });
    await w.plantRecord({ holders: [], heldBefore: null, creating: 'req_crashed' });
    await grant(w.ctx, 'req_crashed');
    const r = await w.get('req_crashed');
    expect(r.status).toBe('ACTIVE');
    expect(r.grant.grantedAt).toBe(seen);
    expect(r.grant.expiresAt).toBe(addDuration(seen, 'PT1H'));
    expect(w.ic.operations('create')).toHaveLength(1);
  });
});

describe('cleanUpUnconfirmedGrant', () => {
  async function unconfirmed(w: MemoryWorld, o: { landed: boolean; creationId: boolean; inProgress?: boolean }): Promise<void> {
    const asked = w.clock.now();
    let creationRequestId: string | null = null;
    if (o.creationId) {
      if (!o.landed && !o.inProgress) w.ic.failNextCreations(1, 'could not create it');
      creationRequestId = await w.ic.startCreation(w.target());
    } else if (o.landed) w.ic.addAssignment(w.target());
    if (!o.inProgress) w.clock.advance(w.ic.statusDelayMs);
    const slot = await w.ctx.slots.acquire('req_unconfirmed', asked, w.clock.in(300_000));
    const grantState = { startedAt: asked, creationAttemptedAt: asked, creationSlot: slot, creationRequestId, grantedAt: null, expiresAt: null, alreadyHeld: null, failure: 'not confirmed in time', cleanupPending: true, attempts: 1 };
    await w.plant('req_unconfirmed', 'FAILED', { grant: grantState });
    await w.plantRecord({ holders: [], heldBefore: null, creating: 'req_unconfirmed' });
  }

  it.each([
    ['with its creation id', true],
    ['known only to have been asked for', false],
  ])('removes a creation that landed after all (%s), and settles', async (_what, creationId) => {
    const w = memoryContext();
    await unconfirmed(w, { landed: true, creationId });
    expect(w.ic.holds(w.target())).toBe(true);
    await cleanUpUnconfirmedGrant(w.ctx, 'req_unconfirmed');
    expect(w.ic.holds(w.target())).toBe(false);
    expect(w.ic.operations('delete')).toHaveLength(1);
    expect(await w.get('req_unconfirmed')).toMatchObject({ status: 'FAILED', grant: { cleanupPending: false } });
    expect(w.store.events('req_unconfirmed').at(-1)).toMatchObject({ type: 'revoke.succeeded', details: { cleanup: true } });
    expect(w.store.dueAt('req_unconfirmed')).toBeNull();
    expect(await w.ctx.assignments.get(w.target())).toEqual({ holders: [], heldBefore: null, creating: null });
    expect(emptySlots(w)).toBe(true);
    expectIdle(w);
  });

  it('waits on its own deletion when it outlasts a poll round, instead of asking for another each pass', async () => {
    const w = memoryContext({ timing: { pollRoundMs: 1000 } });
    await unconfirmed(w, { landed: true, creationId: true });
    w.ic.statusDelayMs = 5000;
    for (let pass = 0; pass < 10 && (await w.get('req_unconfirmed')).grant.cleanupPending; pass++) {
      await cleanUpUnconfirmedGrant(w.ctx, 'req_unconfirmed');
      w.clock.advance(1000);
    }
    expect(w.ic.operations('delete')).toHaveLength(1);
    expect(w.ic.holds(w.target())).toBe(false);
    expect(await w.get('req_unconfirmed')).toMatchObject({ status: 'FAILED', grant: { cleanupPending: false } });
  });

  it('settles without deleting anything when the creation never landed', async () => {
    const w = memoryContext();
    await unconfirmed(w, { landed: false, creationId: true });
    await cleanUpUnconfirmedGrant(w.ctx, 'req_unconfirmed');
    expect(w.ic.operations('delete')).toEqual([]);
    expect(await w.get('req_unconfirmed')).toMatchObject({ grant: { cleanupPending: false } });
    expect((await w.ctx.assignments.get(w.target())).creating).toBeNull();
    expect(emptySlots(w)).toBe(true);
  });

  it('comes back later while the creation is still in progress, and removes it once it lands', async () => {
    const w = memoryContext({ statusDelayMs: 60_000 } satisfies MemoryWorldOptions);
    await unconfirmed(w, { landed: false, creationId: true, inProgress: true });
    await cleanUpUnconfirmedGrant(w.ctx, 'req_unconfirmed');
    expect(await w.get('req_unconfirmed')).toMatchObject({ grant: { cleanupPending: true } });
    expect(w.store.dueAt('req_unconfirmed')).toBe(w.clock.in(5000));
    expect((await w.ctx.assignments.get(w.target())).creating).toBe('req_unconfirmed');
    expect(w.ic.operations('delete')).toEqual([]);
    // The sweeper comes back until it settles; the creation lands, and is removed (deletions take a second).
    w.ic.statusDelayMs = 1000;
    for (let i = 0; i < 30 && (await w.get('req_unconfirmed')).grant.cleanupPending; i++) {
      w.clock.advanceTo(w.store.dueAt('req_unconfirmed') ?? w.clock.now());
      await advance(w.ctx, 'req_unconfirmed');
    }
    expect((await w.get('req_unconfirmed')).grant.cleanupPending).toBe(false);
    expect(w.ic.operations('create')[0]?.state).toBe('SUCCEEDED');
    expect(w.ic.holds(w.target())).toBe(false);
  });

  it('leaves an assignment another live grant relies on', async () => {
    const w = memoryContext();
    await unconfirmed(w, { landed: true, creationId: true });
    await w.plant('req_active', 'ACTIVE');
    await w.plantRecord({ holders: ['req_active'], heldBefore: null, creating: 'req_unconfirmed' });
    await cleanUpUnconfirmedGrant(w.ctx, 'req_unconfirmed');
    expect(w.ic.holds(w.target())).toBe(true);
    expect(w.ic.operations('delete')).toEqual([]);
    expect(await w.get('req_unconfirmed')).toMatchObject({ grant: { cleanupPending: false } });
    expect(await w.ctx.assignments.get(w.target())).toEqual({ holders: ['req_active'], heldBefore: null, creating: null });
  });

  it('makes a new grant wait until it has settled what landed', async () => {
    const w = memoryContext();
    await unconfirmed(w, { landed: true, creationId: true });
    const other = await approved(w);
    await grant(w.ctx, other);
    expect((await w.get(other)).status).toBe('GRANTING');
    expect(w.ic.operations('create')).toHaveLength(1);
    await cleanUpUnconfirmedGrant(w.ctx, 'req_unconfirmed');
    expect(w.ic.holds(w.target())).toBe(false);
    expect((await sweepWhile(w, other, 'GRANTING')).status).toBe('ACTIVE');
    expect(w.ic.holds(w.target())).toBe(true);
    expect(await w.ctx.assignments.get(w.target())).toEqual({ holders: [other], heldBefore: null, creating: null });
  });
});
