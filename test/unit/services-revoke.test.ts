/**
 * Revoking, the sweeper's step for each status, drift detection and the kill switch: on the
 * in-memory ports and a virtual clock.
 */
import { describe, expect, it } from 'vitest';
import type { AccessRequest } from '../../src/domain/request.ts';
import { advance } from '../../src/services/advance.ts';
import { approve } from '../../src/services/approve.ts';
import { checkDrift, revokeDrift } from '../../src/services/drift.ts';
import { endAccess } from '../../src/services/end-access.ts';
import { grant } from '../../src/services/grant.ts';
import { liftFreeze, revokeEverything } from '../../src/services/kill-switch.ts';
import { continueRevoke } from '../../src/services/revoke.ts';
import { submitRequest } from '../../src/services/submit-request.ts';
import { driftId } from '../../src/store/drift.ts';
import { ACCOUNT, dyingReplica, INSTANCE_ARN, leaseHolderAt, memoryContext, PEOPLE, PERMISSION_SET, type MemoryWorld } from '../support/memory.ts';

const { requester, approver1, approver2, outsider } = PEOPLE;

async function submitted(w: MemoryWorld): Promise<string> {
  const r = await submitRequest(w.ctx, requester.slack, { profileId: 'org-admin', duration: 'PT1H', justification: 'Production is down and the org SCP needs a fix', ticket: null });
  if (!r.ok) throw new Error('refused');
  return r.request.id;
}

async function approved(w: MemoryWorld): Promise<string> {
  const id = await submitted(w);
  await approve(w.ctx, id, approver1.slack);
  await approve(w.ctx, id, approver2.slack);
  return id;
}

async function active(w: MemoryWorld): Promise<string> {
  const id = await approved(w);
  await grant(w.ctx, id);
  expect((await w.get(id)).status).toBe('ACTIVE');
  return id;
}

/** Ends the access and runs the revoke's first pass. */
async function ended(w: MemoryWorld, id: string): Promise<AccessRequest> {
  expect((await endAccess(w.ctx, id, requester.slack)).ok).toBe(true);
  await continueRevoke(w.ctx, id);
  return w.get(id);
}

/** Identity Center as a drift pass sees it when `meanwhile` happens right after its first listing returns. */
function afterFirstListing(w: MemoryWorld, meanwhile: () => unknown): MemoryWorld['ic'] {
  let listings = 0;
  return new Proxy(w.ic, {
    get(target, prop, receiver) {
      if (prop !== 'listAssignments') return Reflect.get(target, prop, receiver) as unknown;
      return async (...args: Parameters<typeof target.listAssignments>) => {
        const out = await target.listAssignments(...args);
        if (++listings === 1) await meanwhile();
        return out;
      };
    },
  });
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

const freezeEvent = { type: 'freeze.set' as const, requestId: null, actor: null, details: { operator: 'ops', reason: 'leak' } };

describe('revoke', () => {
  it('deletes the assignment, waits for Identity Center to confirm, and empties the record', async () => {
    const w = memoryContext();
    const id = await active(w);
    const r = await ended(w, id);
    expect(r).toMatchObject({ status: 'REVOKED', revoke: { reason: 'ended', kept: null, doneAt: w.clock.now(), attempts: 0 } });
    expect(w.ic.holds(w.target())).toBe(false);
    expect(await w.ctx.assignments.get(w.target())).toEqual({ holders: [], heldBefore: null, creating: null });
    expect(w.store.events(id).at(-2)).toMatchObject({ type: 'revoke.succeeded', details: { attempts: 1, deletionRequestId: r.revoke?.deletionRequestId } });
    expect(w.store.events(id).at(-1)?.type).toBe('sessions.ended');
    // Only the session activity report is due next, the policy's delay after the end.
    expect(w.store.dueAt(id)).toBe(new Date(w.clock.ms() + 20 * 60_000).toISOString());
    expect(r.activity?.state).toBe('waiting');
    expect(w.clock.pendingTimers()).toBe(0);
  });

  it('keeps the assignment while another live grant relies on it, and removes it with the last one', async () => {
    const w = memoryContext();
    const first = await active(w);
    const second = await active(w);
    const r = await ended(w, first);
    expect(r).toMatchObject({ status: 'REVOKED', revoke: { kept: `access granted by ${second} is still active` } });
    expect(w.store.events(first).at(-1)?.type).toBe('revoke.kept');
    expect(w.ic.holds(w.target())).toBe(true);
    expect(w.ic.operations('delete')).toEqual([]);
    expect(await w.ctx.assignments.get(w.target())).toEqual({ holders: [second], heldBefore: null, creating: null });
    expect((await ended(w, second)).revoke?.kept).toBeNull();
    expect(w.ic.holds(w.target())).toBe(false);
  });

  it('keeps an assignment the user held before breakglass granted it', async () => {
    const w = memoryContext();
    w.ic.addAssignment(w.target());
    const id = await active(w);
    const r = await ended(w, id);
    expect(r.revoke?.kept).toBe('the user held this assignment before breakglass granted it');
    expect(w.ic.holds(w.target())).toBe(true);
    expect(w.ic.operations('delete')).toEqual([]);
  });

  it('retries a failing deletion with growing backoff, shouts from the third attempt, and never gives up', async () => {
    const w = memoryContext();
    const id = await active(w);
    w.ic.failNextDeletions(4, 'AccessDeniedException: not allowed');
    await endAccess(w.ctx, id, requester.slack);
    // A FAILED deletion is retried within seconds: AWS documents no permanent reason for one.
    const base = w.ctx.timing.temporaryBackoffBaseMs;
    for (let attempt = 1; attempt <= 4; attempt++) {
      await continueRevoke(w.ctx, id);
      const r = await w.get(id);
      expect(r).toMatchObject({ status: 'REVOKING', revoke: { attempts: attempt, deletionRequestId: null } });
      expect(r.revoke?.lastError).toContain('AccessDeniedException: not allowed');
      const last = w.store.events(id).at(-1);
      expect(last).toMatchObject({ type: attempt >= 3 ? 'revoke.failed' : 'revoke.retrying', details: { attempt } });
      // Full jitter over half the ceiling: between base × 2^(n-1) / 2 and base × 2^(n-1).
      const waitMs = Date.parse(w.store.dueAt(id) ?? '') - w.clock.ms();
      expect(waitMs).toBeGreaterThanOrEqual((base * 2 ** (attempt - 1)) / 2);
      expect(waitMs).toBeLessThanOrEqual(base * 2 ** (attempt - 1));
      expect(last?.type === 'revoke.retrying' || last?.type === 'revoke.failed' ? last.details.nextAttemptAt : null).toBe(w.store.dueAt(id));
      expect(w.ic.holds(w.target())).toBe(true);
      w.clock.advanceTo(w.store.dueAt(id) ?? '');
    }
    await advance(w.ctx, id);
    expect(await w.get(id)).toMatchObject({ status: 'REVOKED' });
    expect(w.store.events(id).at(-2)).toMatchObject({ type: 'revoke.succeeded', details: { attempts: 5 } });
    expect(w.store.events(id).at(-1)?.type).toBe('sessions.ended');
    expect(w.ic.holds(w.target())).toBe(false);
    expect(w.ic.operations('delete').map((o) => o.state)).toEqual(['FAILED', 'FAILED', 'FAILED', 'FAILED', 'SUCCEEDED']);
  });

  it('retries within 10 s after throttling, and backs off to minutes after an error that needs a person or an outage', async () => {
    const denied = () => Object.assign(new Error('User is not authorized to perform sso:DeleteAccountAssignment'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 403 } });
    const w = memoryContext();
    const id = await active(w);
    const { revokeBackoffBaseMs, revokeBackoffCapMs, temporaryBackoffCapMs, temporaryAttempts } = w.ctx.timing;
    await endAccess(w.ctx, id, requester.slack);
    const waitAfter = async (): Promise<number> => {
      await continueRevoke(w.ctx, id);
      const waitMs = Date.parse(w.store.dueAt(id) ?? '') - w.clock.ms();
      w.clock.advanceTo(w.store.dueAt(id) ?? '');
      return waitMs;
    };
    w.ic.throttleNext('startDeletion', temporaryAttempts + 2);
    for (let attempt = 1; attempt <= temporaryAttempts; attempt++) expect(await waitAfter()).toBeLessThanOrEqual(temporaryBackoffCapMs);
    // Still throttled after that many: an outage, backed off like any failure.
    expect(await waitAfter()).toBeGreaterThanOrEqual(Math.min(revokeBackoffCapMs, revokeBackoffBaseMs * 2 ** temporaryAttempts) / 2);
    expect(await waitAfter()).toBeGreaterThan(temporaryBackoffCapMs * 10);
    w.ic.failNextCalls('startDeletion', denied, 1);
    expect(await waitAfter()).toBeGreaterThan(temporaryBackoffCapMs * 10);
    await advance(w.ctx, id);
    expect(await w.get(id)).toMatchObject({ status: 'REVOKED', revoke: { attempts: temporaryAttempts + 3 } });
  });

  it('backs off from the first attempt after an error that needs a person', async () => {
    const denied = () => Object.assign(new Error('User is not authorized to perform sso:DeleteAccountAssignment'), { name: 'AccessDeniedException', $metadata: { httpStatusCode: 403 } });
    const w = memoryContext();
    const id = await active(w);
    const { revokeBackoffBaseMs } = w.ctx.timing;
    w.ic.failNextCalls('startDeletion', denied, 4);
    await endAccess(w.ctx, id, requester.slack);
    for (let attempt = 1; attempt <= 4; attempt++) {
      await continueRevoke(w.ctx, id);
      const waitMs = Date.parse(w.store.dueAt(id) ?? '') - w.clock.ms();
      expect(waitMs).toBeGreaterThanOrEqual((revokeBackoffBaseMs * 2 ** (attempt - 1)) / 2);
      w.clock.advanceTo(w.store.dueAt(id) ?? '');
    }
  });

  it('completes when the deletion FAILED because the assignment was already gone', async () => {
    const w = memoryContext();
    const id = await active(w);
    w.ic.failNextDeletions(1, 'the assignment does not exist');
    // Someone removes it by hand while the deletion is in flight.
    w.ic.setLatency(0, { operations: ['deletionStatus'], during: async () => w.ic.removeAssignment(w.target()) });
    const r = await ended(w, id);
    expect(r).toMatchObject({ status: 'REVOKED', revoke: { attempts: 0, kept: null } });
    expect(w.ic.operations('delete').map((o) => o.state)).toEqual(['FAILED']);
    expect(w.store.events(id).at(-2)?.type).toBe('revoke.succeeded');
    expect(w.store.events(id).at(-1)?.type).toBe('sessions.ended');
  });

  it('retries a throttled deletion call', async () => {
    const w = memoryContext();
    const id = await active(w);
    w.ic.throttleNext('startDeletion');
    const r = await ended(w, id);
    expect(r).toMatchObject({ status: 'REVOKING', revoke: { attempts: 1, lastError: expect.stringContaining('ThrottlingException') } });
    expect((await sweepWhile(w, id, 'REVOKING')).status).toBe('REVOKED');
    expect(w.ic.holds(w.target())).toBe(false);
  });

  it('is finished by another replica when one is killed right after DeleteAccountAssignment returned, before its id was stored', async () => {
    const w = memoryContext();
    const id = await active(w);
    await endAccess(w.ctx, id, requester.slack);
    const dying = dyingReplica(w, 'ic', 'startDeletion');
    await expect(continueRevoke(dying, id)).rejects.toThrow('killed');
    expect(await w.get(id)).toMatchObject({ status: 'REVOKING', revoke: { deletionRequestId: null } });
    // Its lease holds the request until it runs out.
    await continueRevoke(w.ctx, id);
    expect((await w.get(id)).status).toBe('REVOKING');
    w.clock.advance(w.ctx.timing.leaseMs + 1);
    expect((await sweepWhile(w, id, 'REVOKING')).status).toBe('REVOKED');
    expect(w.ic.holds(w.target())).toBe(false);
    expect(await w.ctx.assignments.get(w.target())).toEqual({ holders: [], heldBefore: null, creating: null });
  });

  it('is finished by another replica from the stored deletion id when one is killed while waiting for it', async () => {
    const w = memoryContext();
    const id = await active(w);
    await endAccess(w.ctx, id, requester.slack);
    const dying = dyingReplica(w, 'requests', 'update', { when: (...args) => (args[2] as { set?: Partial<AccessRequest> }).set?.revoke?.deletionRequestId != null });
    await expect(continueRevoke(dying, id)).rejects.toThrow('killed');
    const stored = (await w.get(id)).revoke?.deletionRequestId;
    expect(stored).toEqual(expect.any(String));
    w.clock.advance(w.ctx.timing.leaseMs + 1);
    expect((await sweepWhile(w, id, 'REVOKING')).status).toBe('REVOKED');
    expect(w.ic.operations('delete').map((o) => o.requestId)).toEqual([stored]);
    expect(w.ic.holds(w.target())).toBe(false);
  });

  it('keeps the assignment lock while a slow deletion call runs, so a competing grant waits and then creates the assignment', async () => {
    // Without renewal the lock would end 600 ms in, long before the 5 s DeleteAccountAssignment returns.
    const w = memoryContext({ timing: { leaseMs: 600, pollRoundMs: 600 }, statusDelayMs: 300 });
    const first = await active(w);
    expect((await endAccess(w.ctx, first, requester.slack)).ok).toBe(true);
    let second = '';
    w.ic.setLatency(5000, {
      operations: ['startDeletion'],
      // 5 s into the deletion call, a new grant of the same assignment comes along.
      during: async () => {
        second = await approved(w);
        await grant(w.ctx, second);
      },
    });
    await continueRevoke(w.ctx, first);
    w.ic.setLatency(null);
    expect((await w.get(second)).status).toBe('GRANTING');
    expect((await w.get(first)).status).toBe('REVOKED');
    const r = await sweepWhile(w, second, 'GRANTING');
    expect(r).toMatchObject({ status: 'ACTIVE', grant: { alreadyHeld: null } });
    expect(w.ic.holds(w.target())).toBe(true);
    expect(await w.ctx.assignments.get(w.target())).toEqual({ holders: [second], heldBefore: null, creating: null });
  });
});

describe('advance: the sweeper\'s step for each status', () => {
  it('PENDING: nothing before the pending timeout, expired after it', async () => {
    const w = memoryContext();
    const id = await submitted(w);
    await advance(w.ctx, id);
    expect((await w.get(id)).status).toBe('PENDING');
    w.clock.advance(3_600_000);
    await advance(w.ctx, id);
    expect(await w.get(id)).toMatchObject({ status: 'EXPIRED' });
    expect(w.store.dueAt(id)).toBeNull();
    expect(w.store.events(id).at(-1)).toMatchObject({ type: 'request.expired', details: { pendingTimeout: 'PT1H' } });
  });

  it('APPROVED: grants', async () => {
    const w = memoryContext();
    const id = await approved(w);
    await advance(w.ctx, id);
    expect((await w.get(id)).status).toBe('ACTIVE');
    expect(w.ic.holds(w.target())).toBe(true);
  });

  it('GRANTING: goes on with the creation in progress until confirmed', async () => {
    const w = memoryContext({ statusDelayMs: 40_000 });
    const id = await approved(w);
    await advance(w.ctx, id);
    const granting = await w.get(id);
    expect(granting.status).toBe('GRANTING');
    expect(granting.grant.pendingSeenAt).toBeTruthy();
    expect((await sweepWhile(w, id, 'GRANTING')).status).toBe('ACTIVE');
    expect(w.ic.operations('create')).toHaveLength(1);
  });

  it('ACTIVE: nothing before it expires, revoked after', async () => {
    const w = memoryContext();
    const id = await active(w);
    const { grant: g } = await w.get(id);
    w.clock.advanceTo(new Date(Date.parse(g.expiresAt ?? '') - 1).toISOString());
    await advance(w.ctx, id);
    expect((await w.get(id)).status).toBe('ACTIVE');
    w.clock.advance(1);
    await advance(w.ctx, id);
    expect(await w.get(id)).toMatchObject({ status: 'REVOKED', revoke: { reason: 'expired', by: null } });
    expect(w.ic.holds(w.target())).toBe(false);
  });

  it('ACTIVE at its expiry: the revoke holds the lease from REVOKING to REVOKED with no claim or release of its own, and ends the sessions', async () => {
    const w = memoryContext();
    const id = await active(w);
    w.clock.advanceTo((await w.get(id)).grant.expiresAt ?? '');
    const from = w.store.table.writes.length;
    const watched = leaseHolderAt(w, id, 'startDeletion');
    await advance(watched.ctx, id);
    expect(await w.get(id)).toMatchObject({ status: 'REVOKED', revoke: { sessions: { state: 'ended' } } });
    expect(watched.holders).toEqual([w.ctx.owner]);
    // REQ: REVOKING, the deletion's id, the removal, REVOKED, and one renewal of the lease (the pass waits over a third of
    // it on Identity Center); ASN: lock, emptied (not renewed once saved); SESSIONS: the wish (recorded before the policy is
    // touched: test/unit/sessions.test.ts, "never takes back"), the permission set's lock, its denials.
    expect(w.store.writesByKind(from)).toEqual({ REQ: 5, ASN: 2, SESSIONS: 3 });
    expect(w.store.requestItem(id)).not.toHaveProperty('leaseOwner');
  });

  it('REVOKING: continues the revoke', async () => {
    const w = memoryContext();
    const id = await active(w);
    await endAccess(w.ctx, id, requester.slack);
    await advance(w.ctx, id);
    expect((await w.get(id)).status).toBe('REVOKED');
  });

  it('FAILED: cleans up an unconfirmed grant, and otherwise stops looking at it', async () => {
    const w = memoryContext();
    w.ic.addAssignment(w.target());
    const asked = w.clock.now();
    const g = { startedAt: asked, creationAttemptedAt: asked, creationSlot: null, creationRequestId: null, grantedAt: null, expiresAt: null, alreadyHeld: null, failure: 'timeout', cleanupPending: true, attempts: 1 };
    await w.plant('req_cleanup', 'FAILED', { grant: g });
    await w.plant('req_failed', 'FAILED', { grant: { ...g, cleanupPending: false } });
    await advance(w.ctx, 'req_cleanup');
    expect((await w.get('req_cleanup')).grant.cleanupPending).toBe(false);
    expect(w.ic.holds(w.target())).toBe(false);
    expect(w.store.dueAt('req_failed')).not.toBeNull();
    await advance(w.ctx, 'req_failed');
    expect(w.store.dueAt('req_failed')).toBeNull();
  });

  it('a final status: stops looking at it', async () => {
    const w = memoryContext();
    await w.plant('req_denied', 'DENIED');
    await advance(w.ctx, 'req_denied');
    expect(w.store.dueAt('req_denied')).toBeNull();
    expect(await w.ctx.requests.due(null)).toEqual([]);
  });
});

describe('drift', () => {
  const someone = (principalId: string) => ({ instanceArn: INSTANCE_ARN, accountId: ACCOUNT, permissionSetArn: PERMISSION_SET, principalId });
  const idOf = (principalId: string, principalType: 'USER' | 'GROUP' = 'USER') => driftId({ ...someone(principalId), principalType });

  it('raises one alert for access no grant backs, and resolves it when the access is gone', async () => {
    const w = memoryContext();
    w.ic.addAssignment(someone(outsider.principal));
    expect(await checkDrift(w.ctx)).toEqual({ raised: 1, revoked: 0, resolved: 0 });
    expect(await checkDrift(w.ctx)).toEqual({ raised: 0, revoked: 0, resolved: 0 });
    const id = idOf(outsider.principal);
    expect(await w.ctx.drift.get(id)).toMatchObject({ status: 'open', principalId: outsider.principal, profileId: 'org-admin' });
    expect(await w.ctx.drift.openIds('org-admin')).toEqual([id]);
    const queued = await w.ctx.outbox.read({ pk: `DRIFT#${id}`, sk: 'DRIFT' });
    expect(queued?.outbox.map((e) => e.type)).toEqual(['drift.detected']);
    w.ic.removeAssignment(someone(outsider.principal));
    expect(await checkDrift(w.ctx)).toEqual({ raised: 0, revoked: 0, resolved: 1 });
    expect(await w.ctx.drift.get(id)).toMatchObject({ status: 'resolved' });
    expect(await w.ctx.drift.openIds('org-admin')).toEqual([]);
  });

  it('raises nothing for access a live grant backs or the policy lists as standing', async () => {
    const w = memoryContext({ policy: { standingAccess: [{ profile: 'org-admin', email: outsider.email }, { profile: 'org-admin', groupId: 'g-admins' }] } });
    await active(w);
    w.ic.addAssignment(someone(outsider.principal));
    w.ic.addAssignment(someone('g-admins'), 'GROUP');
    expect(await checkDrift(w.ctx)).toEqual({ raised: 0, revoked: 0, resolved: 0 });
  });

  it('flags access backed only by the name of an ended grant, and group access', async () => {
    const w = memoryContext();
    await w.plant('req_ended', 'REVOKED');
    await w.plantRecord({ holders: ['req_ended'], heldBefore: null, creating: null });
    w.ic.addAssignment(w.target());
    w.ic.addAssignment(someone('g-1'), 'GROUP');
    expect(await checkDrift(w.ctx)).toEqual({ raised: 2, revoked: 0, resolved: 0 });
    expect((await w.ctx.drift.openIds('org-admin')).sort()).toEqual([idOf('g-1', 'GROUP'), idOf(requester.principal)].sort());
  });

  it('removes drift itself with `drift: revoke`', async () => {
    const w = memoryContext({ policy: { drift: 'revoke' } });
    w.ic.addAssignment(someone(outsider.principal));
    expect(await checkDrift(w.ctx)).toEqual({ raised: 1, revoked: 1, resolved: 0 });
    expect(w.ic.holds(someone(outsider.principal))).toBe(false);
    expect(await w.ctx.drift.get(idOf(outsider.principal))).toMatchObject({ status: 'revoked' });
  });

  it('lets an approver revoke drifted access, and nobody else', async () => {
    const w = memoryContext();
    w.ic.addAssignment(someone(outsider.principal));
    await checkDrift(w.ctx);
    const id = idOf(outsider.principal);
    expect(await revokeDrift(w.ctx, id, outsider.slack)).toEqual({ ok: false, message: 'Only breakglass approvers can revoke access found by drift detection.' });
    expect(w.ic.holds(someone(outsider.principal))).toBe(true);
    expect(await revokeDrift(w.ctx, id, approver1.slack)).toEqual({ ok: true, message: 'Removed: Identity Center confirmed the deletion.' });
    expect(w.ic.holds(someone(outsider.principal))).toBe(false);
    expect(await w.ctx.drift.get(id)).toMatchObject({ status: 'revoked' });
    const queued = await w.ctx.outbox.read({ pk: `DRIFT#${id}`, sk: 'DRIFT' });
    expect(queued?.outbox.at(-1)).toMatchObject({ type: 'drift.revoked', actor: { slackUserId: approver1.slack } });
    expect((await revokeDrift(w.ctx, id, approver2.slack)).message).toBe('This alert is already revoked.');
    expect((await revokeDrift(w.ctx, 'nope', approver2.slack)).message).toBe('There is no drift alert nope.');
  });

  it('leaves drifted access in place once a grant backs it, and says why', async () => {
    const w = memoryContext();
    w.ic.addAssignment(w.target());
    await checkDrift(w.ctx);
    await active(w);
    const r = await revokeDrift(w.ctx, idOf(requester.principal), approver1.slack);
    expect(r).toEqual({ ok: false, message: 'A breakglass grant now backs this assignment, so it was left in place.' });
    expect(w.ic.holds(w.target())).toBe(true);
  });

  it('closes an alert as revoked by the approver whose Revoke is in flight, not as resolved by a drift pass', async () => {
    const w = memoryContext();
    w.ic.addAssignment(someone(outsider.principal));
    await checkDrift(w.ctx);
    const id = idOf(outsider.principal);
    let pass: Awaited<ReturnType<typeof checkDrift>> | null = null;
    // The deletion has gone through; before the approver's Revoke records it, a drift pass looks.
    w.ic.setLatency(2000, { operations: ['deletionStatus'], during: async () => void (pass = await checkDrift(w.ctx)) });
    expect((await revokeDrift(w.ctx, id, approver1.slack)).ok).toBe(true);
    expect(pass).toEqual({ raised: 0, revoked: 0, resolved: 0 });
    expect(await w.ctx.drift.get(id)).toMatchObject({ status: 'revoked' });
    const queued = await w.ctx.outbox.read({ pk: `DRIFT#${id}`, sk: 'DRIFT' });
    expect(queued?.outbox.map((e) => e.type)).toEqual(['drift.detected', 'drift.revoked']);
  });

  it('does not resolve an alert whose access came back between the listing and the check', async () => {
    const w = memoryContext();
    const t = someone(outsider.principal);
    w.ic.addAssignment(t);
    await checkDrift(w.ctx);
    w.ic.removeAssignment(t);
    const ic = afterFirstListing(w, () => void w.ic.addAssignment(t));
    expect(await checkDrift({ ...w.ctx, ic })).toEqual({ raised: 0, revoked: 0, resolved: 0 });
    expect(await w.ctx.drift.get(idOf(outsider.principal))).toMatchObject({ status: 'open' });
  });

  it('raises nothing for an assignment a revoke removed between the listing and the judgement', async () => {
    const w = memoryContext();
    const id = await active(w);
    // The grant's revoke completes just after Identity Center listed its assignment.
    const ic = afterFirstListing(w, async () => expect((await ended(w, id)).status).toBe('REVOKED'));
    expect(await checkDrift({ ...w.ctx, ic })).toEqual({ raised: 0, revoked: 0, resolved: 0 });
    expect(await w.ctx.drift.openIds('org-admin')).toEqual([]);
  });

  it('keeps checking the others when one cannot be removed, and says so to the approver', async () => {
    const w = memoryContext({ policy: { drift: 'revoke' } });
    w.ic.addAssignment(someone('p-x'));
    w.ic.addAssignment(someone('p-y'));
    w.ic.failNextDeletions(1, 'denied');
    expect(await checkDrift(w.ctx)).toEqual({ raised: 1, revoked: 1, resolved: 0 });
    expect(w.ic.assignments().map((a) => a.principalId)).toEqual(['p-x']);
    w.ic.failNextDeletions(1, 'denied');
    const r = await revokeDrift(w.ctx, idOf('p-x'), approver1.slack);
    expect(r.ok).toBe(false);
    expect(r.message).toContain('Identity Center could not delete it: denied');
  });
});

describe('the kill switch', () => {
  it('freezes, cancels undecided requests, revokes every grant, and reports Identity Center clean', async () => {
    const w = memoryContext();
    const live = await active(w);
    const pending = await submitted(w);
    const next = await approved(w);
    let flushes = 0;
    const out = await revokeEverything(w.ctx, 'ops', 'token leak', 60_000, async () => void flushes++);
    expect(out.clean).toBe(true);
    expect(out.unsettled).toEqual([]);
    expect(await w.ctx.freeze.get()).toEqual({ by: 'ops', reason: 'token leak', at: expect.any(String) });
    expect(await w.get(live)).toMatchObject({ status: 'REVOKED', revoke: { reason: 'revoke-all' } });
    expect((await w.get(pending)).status).toBe('CANCELLED');
    expect(await w.get(next)).toMatchObject({ status: 'CANCELLED', decision: { by: 'ops', reason: 'revoke-all: token leak' } });
    expect(w.ic.assignments()).toEqual([]);
    expect(w.store.systemEvents().map((e) => e.type)).toEqual(['revoke_all.started', 'revoke_all.finished']);
    expect(w.store.systemEvents()[1]).toMatchObject({ details: { revoked: 1, pending: 0, remaining: [] } });
    expect(flushes).toBeGreaterThanOrEqual(2);
    // Frozen until lifted.
    expect((await submitRequest(w.ctx, requester.slack, { profileId: 'org-admin', duration: 'PT1H', justification: 'Production is down again, sorry', ticket: null })).ok).toBe(false);
  });

  it('cleans up a creation that was never confirmed but landed', async () => {
    const w = memoryContext();
    w.ic.addAssignment(w.target());
    const asked = w.clock.now();
    await w.plantRecord({ holders: [], heldBefore: null, creating: 'req_unconfirmed' });
    const g = { startedAt: asked, creationAttemptedAt: asked, creationSlot: null, creationRequestId: null, grantedAt: null, expiresAt: null, alreadyHeld: null, failure: 'timeout', cleanupPending: true, attempts: 1 };
    await w.plant('req_unconfirmed', 'FAILED', { grant: g }, w.clock.in(3_600_000));
    const out = await revokeEverything(w.ctx, 'ops', 'host compromised', 60_000, async () => undefined);
    expect(out.clean).toBe(true);
    expect(w.ic.assignments()).toEqual([]);
  });

  it('says what Identity Center still holds when a deletion keeps failing', async () => {
    const w = memoryContext();
    const id = await active(w);
    w.ic.failNextDeletions(1000);
    const out = await revokeEverything(w.ctx, 'ops', 'drill', 3_000, async () => undefined);
    expect(out.clean).toBe(false);
    expect(out.unsettled.map((r) => r.id)).toEqual([id]);
    expect(w.ic.holds(w.target())).toBe(true);
    expect(w.store.systemEvents().at(-1)).toMatchObject({ type: 'revoke_all.finished', details: { revoked: 0, pending: 1 } });
  });

  it('lists access it kept because the user held it before', async () => {
    const w = memoryContext();
    w.ic.addAssignment(w.target());
    const id = await active(w);
    const out = await revokeEverything(w.ctx, 'ops', 'drill', 60_000, async () => undefined);
    expect(out.clean).toBe(true);
    expect(out.leftovers).toEqual([{ request: expect.objectContaining({ id }), kept: 'the user held this assignment before breakglass granted it' }]);
    expect(w.ic.holds(w.target())).toBe(true);
  });

  it('lifts the freeze once, recording who and why', async () => {
    const w = memoryContext();
    expect(await liftFreeze(w.ctx, 'ops', 'nothing to lift')).toBe(false);
    await w.ctx.freeze.set({ by: 'ops', reason: 'leak', at: w.clock.now() }, freezeEvent);
    expect(await liftFreeze(w.ctx, 'ops', 'keys rotated')).toBe(true);
    expect(await w.ctx.freeze.get()).toBeNull();
    expect(await liftFreeze(w.ctx, 'ops', 'again')).toBe(false);
    const item = await w.ctx.outbox.read({ pk: 'SYSTEM', sk: 'FREEZE' });
    expect(item?.outbox.map((e) => [e.type, e.details])).toEqual([
      ['freeze.set', { operator: 'ops', reason: 'leak' }],
      ['freeze.lifted', { operator: 'ops', reason: 'keys rotated' }],
    ]);
    expect((await submitRequest(w.ctx, requester.slack, { profileId: 'org-admin', duration: 'PT1H', justification: 'Production is down and the org SCP needs a fix', ticket: null })).ok).toBe(true);
  });
});
