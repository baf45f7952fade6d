import { addDuration } from '../domain/duration.ts';
import type { AccessRequest } from '../domain/request.ts';
import type { AssignmentRecord } from '../store/assignments.ts';
import type { ServiceContext } from './context.ts';
import { later, mutate } from './mutate.ts';
import { describeError, isTransient, pollUntilSettled } from './poll.ts';
import { withLease } from './lease.ts';
import { isStandingAccess } from './standing.ts';

export const lockOwnerFor = (requestId: string) => `request:${requestId}`;

/**
 * How long an assignment lock lasts: past one Identity Center polling round,
 * so nobody else judges the assignment while a creation or deletion is in
 * flight under it.
 */
export const assignmentLockUntil = (ctx: ServiceContext, now: string) => later(now, ctx.timing.pollRoundMs + ctx.timing.leaseMs * 2);

/**
 * Grants an approved request: one CreateAccountAssignment, confirmed by its
 * creation status, unless the user already holds the assignment. Safe to run
 * again after a crash at any point: the creation request id is stored before
 * waiting on it, and the assignment's holders say who relies on it.
 */
export async function grant(ctx: ServiceContext, id: string): Promise<void> {
  const started = await mutate(ctx, id, ['APPROVED'], (r, now) => ({
    set: { status: 'GRANTING', grant: { ...r.grant, startedAt: now } },
    events: [{ type: 'grant.started', requestId: id, actor: null, details: { target: r.target } }],
    due: later(now, ctx.timing.leaseMs),
  }));
  const current = started ?? (await ctx.requests.get(id));
  if (current?.status !== 'GRANTING') return;
  await withLease(ctx, id, 'GRANTING', (claimed) => runGrant(ctx, claimed));
}

async function runGrant(ctx: ServiceContext, request: AccessRequest): Promise<void> {
  const t = request.target;
  const owner = lockOwnerFor(request.id);
  const now = ctx.now();
  const deadline = Date.parse(request.grant.startedAt ?? now) + ctx.timing.grantTimeoutMs;
  const record = await lockAssignment(ctx, request);
  if (!record) return;
  const others = record.holders.filter((h) => h !== request.id);
  const settled: AssignmentRecord = { holders: others, heldBefore: record.heldBefore };
  // Reached only when nothing else held the assignment and this grant creates it.
  const created: AssignmentRecord = { holders: [...others, request.id], heldBefore: null };
  let creationId = request.grant.creationRequestId;
  let slot = request.grant.creationSlot;
  try {
    if (!creationId) {
      if (record.holders.includes(request.id)) {
        await activate(ctx, request, record, null);
        return;
      }
      if (request.grant.creationAttemptedAt) {
        // We crashed after asking for the creation and before storing its id. We checked,
        // under this lock, that the assignment did not exist; if it exists now, it is ours.
        if (await ctx.ic.hasAssignment(t)) {
          await ctx.slots.release(request.id, slot);
          await activate(ctx, request, created, null);
          return;
        }
      } else {
        const alreadyHeld = await existingAccess(ctx, request, record, others);
        if (alreadyHeld) {
          await activate(ctx, request, alreadyHeld.record, alreadyHeld.why);
          return;
        }
      }
      slot = await ctx.slots.acquire(request.id, ctx.now(), later(ctx.now(), ctx.timing.grantTimeoutMs));
      if (slot === null) {
        // AWS allows only 15 creations in flight; wait for one to settle.
        await reschedule(ctx, request.id, 1000);
        return;
      }
      const taken = slot;
      await mutate(ctx, request.id, ['GRANTING'], (r, at) => ({ set: { grant: { ...r.grant, creationAttemptedAt: at, creationSlot: taken } } }));
      if (!(await ctx.assignments.markCreating(t, owner, request.id))) throw new Error('lost the assignment lock before creating');
      creationId = await ctx.ic.startCreation(t);
      const id = creationId;
      await mutate(ctx, request.id, ['GRANTING'], (r) => ({ set: { grant: { ...r.grant, creationRequestId: id, attempts: r.grant.attempts + 1 } } }));
    }
    const id = creationId;
    const status = await pollUntilSettled(() => ctx.ic.creationStatus(t.instanceArn, id), Math.min(deadline, Date.now() + ctx.timing.pollRoundMs));
    if (status.state === 'SUCCEEDED') {
      await ctx.slots.release(request.id, slot);
      await activate(ctx, request, created, null);
    } else if (status.state === 'FAILED') {
      await ctx.slots.release(request.id, slot);
      await ctx.assignments.saveAndUnlock(t, owner, settled);
      await fail(ctx, request.id, `Identity Center could not create the assignment: ${status.failureReason ?? 'no reason given'}`, false);
    } else if (Date.now() >= deadline) {
      // The creation may still land: "creating" stays set until the cleanup has settled it.
      await ctx.assignments.unlock(t, owner);
      await fail(ctx, request.id, `Identity Center did not confirm the assignment within ${Math.round(ctx.timing.grantTimeoutMs / 1000)} seconds`, true);
    } else {
      await reschedule(ctx, request.id, 1000);
    }
  } catch (err) {
    ctx.log.warn({ err, event: 'grant.error', requestId: request.id }, 'grant attempt failed');
    if (isTransient(err) && Date.now() < deadline) {
      await reschedule(ctx, request.id, 2000);
      return;
    }
    const mayHaveLanded = creationId !== null || (await ctx.requests.get(request.id))?.grant.creationAttemptedAt != null;
    if (mayHaveLanded) await ctx.assignments.unlock(t, owner);
    else await ctx.assignments.saveAndUnlock(t, owner, settled);
    await fail(ctx, request.id, describeError(err), mayHaveLanded);
  }
}

/**
 * Takes the lock on the request's assignment for its grant or revoke. Null
 * (and the request rescheduled) while another grant or revoke of it is in
 * flight, or another request's creation of it is unsettled: what exists then
 * may be that grant's assignment, and its outcome decides ours.
 */
export async function lockAssignment(ctx: ServiceContext, request: AccessRequest): Promise<AssignmentRecord | null> {
  const owner = lockOwnerFor(request.id);
  const now = ctx.now();
  // Owned by the request, so whoever resumes the request after a crash holds it too.
  const record = await ctx.assignments.lock(request.target, owner, now, assignmentLockUntil(ctx, now));
  if (record && (!record.creating || record.creating === request.id)) return record;
  if (record) await ctx.assignments.unlock(request.target, owner);
  await reschedule(ctx, request.id, 1000);
  return null;
}

/**
 * The user may already hold this assignment: through another active grant,
 * standing access in the policy, or by hand. Without another grant relying
 * on it, Identity Center is asked every time: a "held before" noted at an
 * earlier grant says nothing about now (the assignment may since have been
 * removed, and then this grant must create it).
 */
async function existingAccess(
  ctx: ServiceContext,
  request: AccessRequest,
  record: AssignmentRecord,
  others: string[],
): Promise<{ why: string; record: AssignmentRecord } | null> {
  const holders = [...others, request.id];
  if (others.length > 0) return { why: `already granted by ${others.join(', ')}`, record: { holders, heldBefore: record.heldBefore } };
  // Identity Center is the truth: access the policy lists as standing but that does not exist is created,
  // and then removed again on revoke like any access breakglass gave.
  if (!(await ctx.ic.hasAssignment(request.target))) return null;
  const why = isStandingAccess(ctx.policy, request) ? 'the policy lists it as standing access' : 'the user held this assignment before breakglass granted it';
  return { why, record: { holders, heldBefore: why } };
}

async function activate(ctx: ServiceContext, request: AccessRequest, record: AssignmentRecord, alreadyHeld: string | null): Promise<void> {
  if (!(await ctx.assignments.saveAndUnlock(request.target, lockOwnerFor(request.id), record))) {
    throw new Error('lost the assignment lock while granting');
  }
  await mutate(ctx, request.id, ['GRANTING'], (r, now) => {
    const expiresAt = addDuration(now, r.duration);
    return {
      set: { status: 'ACTIVE', grant: { ...r.grant, grantedAt: now, expiresAt, alreadyHeld } },
      events: [{ type: 'grant.succeeded', requestId: r.id, actor: null, details: { grantedAt: now, expiresAt, alreadyHeld, creationRequestId: r.grant.creationRequestId } }],
      due: expiresAt,
    };
  });
}

async function fail(ctx: ServiceContext, id: string, reason: string, cleanupPending: boolean): Promise<void> {
  await mutate(ctx, id, ['GRANTING'], (r, now) => ({
    set: { status: 'FAILED', grant: { ...r.grant, failure: reason, cleanupPending } },
    events: [{ type: 'grant.failed', requestId: id, actor: null, details: { reason, creationRequestId: r.grant.creationRequestId } }],
    due: cleanupPending ? later(now, 5000) : null,
  }));
}

export async function reschedule(ctx: ServiceContext, id: string, ms: number): Promise<void> {
  await mutate(ctx, id, ['APPROVED', 'GRANTING', 'ACTIVE', 'REVOKING', 'FAILED'], (_r, now) => ({ due: later(now, ms) }));
}
