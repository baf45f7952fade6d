import { addDuration } from '../domain/duration.ts';
import { nextActiveCheck } from '../domain/grant-time.ts';
import { grantProblem } from '../domain/policy.ts';
import { transition, type AccessRequest } from '../domain/request.ts';
import { classifyHolders, lockOwnerFor, settleForeignCreation, withAssignmentLock, type HeldAssignment } from './assignment-lock.ts';
import type { ServiceContext } from './context.ts';
import { approverRules, mayRequest, profileOf } from './eligibility.ts';
import { LockLost } from './renewed-lock.ts';
import type { AssignmentRecord } from './ports.ts';
import { change, later, reschedule } from './change.ts';
import { describeError, isTransient, pollUntilSettled } from './poll.ts';
import { leaseFrom, withLease } from './lease.ts';
import { isStandingAccess } from './standing.ts';

/**
 * Grants an approved request: one CreateAccountAssignment, confirmed by its
 * creation status, unless the user already holds the assignment. Safe to run
 * again after a crash at any point: the creation request id is stored before
 * waiting on it, and the assignment's holders say who relies on it.
 */
export async function grant(ctx: ServiceContext, id: string): Promise<void> {
  const approved = await ctx.requests.get(id);
  if (approved?.status === 'APPROVED') {
    // The store is not trusted blindly: what is granted must still be what the policy allows now.
    const problem = await refusal(ctx, approved);
    if (problem) {
      await refuse(ctx, id, ['APPROVED'], problem);
      return;
    }
  }
  const started = await change(ctx, id, ['APPROVED'], (r, now) => ({
    set: { ...transition(r, 'GRANTING'), grant: { ...r.grant, startedAt: now } },
    events: [{ type: 'grant.started', requestId: id, actor: null, details: { target: r.target } }],
    due: later(now, ctx.timing.leaseMs),
    lease: leaseFrom(ctx, now),
  }));
  const current = started ?? (await ctx.requests.get(id));
  if (current?.status !== 'GRANTING') return;
  await withLease(ctx, id, 'GRANTING', (claimed) => runGrant(ctx, claimed), started);
}

/** Why the request may not be granted (an extension: applied) under the policy in force now; null when it may. */
export async function refusal(ctx: ServiceContext, r: AccessRequest): Promise<string | null> {
  const frozen = await ctx.freeze.get();
  if (frozen) return `breakglass is frozen (by ${frozen.by}: ${frozen.reason}); nothing is granted until an operator lifts the freeze`;
  const now = ctx.clock.now();
  const approvers: { id: string; rules: number[] }[] = [];
  for (const a of r.approvals) approvers.push({ id: a.slackUserId, rules: await approverRules(ctx, r, a.slackUserId, now) });
  const profile = profileOf(ctx, r.profileId);
  return grantProblem(ctx.policy, r, { at: now, requesterEligible: profile !== null && (await mayRequest(ctx, profile, r.requester.slackUserId)), approvers });
}

async function refuse(ctx: ServiceContext, id: string, from: ['APPROVED'] | ['GRANTING'], reason: string): Promise<void> {
  ctx.log.warn({ event: 'grant.refused', requestId: id, reason }, 'request no longer satisfies the policy; not granted');
  await change(ctx, id, from, (r) => ({
    set: { ...transition(r, 'FAILED'), grant: { ...r.grant, failure: reason, cleanupPending: false } },
    events: [{ type: 'grant.failed', requestId: id, actor: null, details: { reason, refused: true, creationRequestId: null } }],
    due: null,
  }));
}

async function runGrant(ctx: ServiceContext, request: AccessRequest): Promise<void> {
  const nothingAttempted = !request.grant.creationRequestId && !request.grant.creationAttemptedAt;
  if (nothingAttempted) {
    const problem = await refusal(ctx, request);
    if (problem) return refuse(ctx, request.id, ['GRANTING'], problem);
  }
  const deadline = Date.parse(request.grant.startedAt ?? ctx.clock.now()) + ctx.timing.grantTimeoutMs;
  let creationId = request.grant.creationRequestId;
  const locked = await withAssignmentLock(ctx, request.target, lockOwnerFor(request.id), async (held) => {
    try {
      await grantUnderLock(ctx, request, held, deadline, (id) => (creationId = id));
    } catch (err) {
      await afterGrantError(ctx, request, deadline, creationId, err);
    }
  });
  if (!locked) await reschedule(ctx, request.id, 1000);
}

async function grantUnderLock(ctx: ServiceContext, request: AccessRequest, held: HeldAssignment, deadline: number, started: (creationId: string) => void): Promise<void> {
  const t = request.target;
  const settled = await settleForeignCreation(ctx, held.record, t, request.id);
  // Another request's creation of this assignment is unsettled: what exists now may be its assignment.
  if (settled === 'wait') return reschedule(ctx, request.id, 1000);
  const holders = await classifyHolders(ctx, settled.holders, t, request.id);
  if (holders.deleting.length > 0) return reschedule(ctx, request.id, 1000);
  const others = holders.relying;
  let creationId = request.grant.creationRequestId;
  let slot = request.grant.creationSlot;
  // The last moment the assignment was known not to be confirmed yet: the time box starts there.
  let notConfirmedAt = request.grant.pendingSeenAt ?? request.grant.creationAttemptedAt;

  if (!creationId) {
    if (settled.holders.includes(request.id)) {
      // Recorded as a holder before a crash: the grant had already succeeded.
      return activate(ctx, request, held, { holders: [...others, request.id], heldBefore: settled.heldBefore, creating: null }, null, notConfirmedAt);
    }
    if (request.grant.creationAttemptedAt) {
      // We crashed after asking for the creation and before storing its id. We checked,
      // under this lock, that the assignment did not exist; if it exists now, it is ours.
      if (await ctx.ic.hasAssignment(t)) {
        await ctx.slots.release(request.id, slot);
        return activate(ctx, request, held, { holders: [...others, request.id], heldBefore: null, creating: null }, null, notConfirmedAt);
      }
    } else {
      const existing = await existingAccess(ctx, request, settled, others);
      if (existing) return activate(ctx, request, held, existing.record, existing.why, null);
    }
    const now = ctx.clock.now();
    slot = await ctx.slots.acquire(request.id, now, later(now, ctx.timing.grantTimeoutMs));
    if (slot === null) {
      // AWS allows only 15 creations in flight; wait for one to settle.
      return reschedule(ctx, request.id, 1000);
    }
    const taken = slot;
    const attempted = await change(ctx, request.id, ['GRANTING'], (r, at) => ({ set: { grant: { ...r.grant, creationAttemptedAt: at, creationSlot: taken } } }));
    if (!attempted) return;
    notConfirmedAt = attempted.grant.creationAttemptedAt;
    await held.markCreating(request.id);
    held.check();
    creationId = await ctx.ic.startCreation(t);
    started(creationId);
    const id = creationId;
    await change(ctx, request.id, ['GRANTING'], (r) => ({ set: { grant: { ...r.grant, creationRequestId: id, attempts: r.grant.attempts + 1 } } }));
  }
  const id = creationId;
  let lastPending = notConfirmedAt;
  const status = await pollUntilSettled(
    ctx.clock,
    async () => {
      const at = ctx.clock.now();
      const s = await ctx.ic.creationStatus(t.instanceArn, id);
      if (s.state === 'IN_PROGRESS') lastPending = at;
      return s;
    },
    Math.min(deadline, ctx.clock.ms() + ctx.timing.pollRoundMs),
  );
  if (status.state === 'SUCCEEDED') {
    await ctx.slots.release(request.id, slot);
    return activate(ctx, request, held, { holders: [...others, request.id], heldBefore: null, creating: null }, null, lastPending);
  }
  if (status.state === 'FAILED') {
    await ctx.slots.release(request.id, slot);
    await held.save({ holders: others, heldBefore: settled.heldBefore, creating: null });
    return fail(ctx, request.id, `Identity Center could not create the assignment: ${status.failureReason ?? 'no reason given'}`, false);
  }
  if (ctx.clock.ms() >= deadline) {
    // The creation may still land: the creation marker stays until the cleanup has settled it.
    return fail(ctx, request.id, `Identity Center did not confirm the assignment within ${Math.round(ctx.timing.grantTimeoutMs / 1000)} seconds`, true);
  }
  // Still in progress: remember when it was last seen so, so a crash before the confirmation is recorded cannot lengthen the grant.
  const pendingSeenAt = lastPending;
  await change(ctx, request.id, ['GRANTING'], (r, now) => ({ set: { grant: { ...r.grant, pendingSeenAt } }, due: later(now, 1000) }));
}

async function afterGrantError(ctx: ServiceContext, request: AccessRequest, deadline: number, creationId: string | null, err: unknown): Promise<void> {
  ctx.log.warn({ err, event: 'grant.error', requestId: request.id }, 'grant attempt failed');
  if (err instanceof LockLost || (isTransient(err) && ctx.clock.ms() < deadline)) {
    await reschedule(ctx, request.id, 2000);
    return;
  }
  // If Identity Center was asked, the creation marker stays until the cleanup has settled what landed.
  const mayHaveLanded = creationId !== null || (await ctx.requests.get(request.id))?.grant.creationAttemptedAt != null;
  await fail(ctx, request.id, describeError(err), mayHaveLanded);
}

/**
 * The user may already hold this assignment: through another active grant,
 * standing access in the policy, or by hand. Identity Center is asked every
 * time: a grant named in the record, or a "held before" noted at an earlier
 * grant, says nothing about whether the assignment still exists (it may have
 * been removed by hand or by drift detection, and then this grant creates it).
 */
async function existingAccess(
  ctx: ServiceContext,
  request: AccessRequest,
  record: AssignmentRecord,
  others: string[],
): Promise<{ why: string; record: AssignmentRecord } | null> {
  if (!(await ctx.ic.hasAssignment(request.target))) return null;
  const holders = [...others, request.id];
  if (others.length > 0) return { why: `already granted by ${others.join(', ')}`, record: { holders, heldBefore: record.heldBefore, creating: null } };
  const why = isStandingAccess(ctx.policy, request) ? 'the policy lists it as standing access' : 'the user held this assignment before breakglass granted it';
  return { why, record: { holders, heldBefore: why, creating: null } };
}

/**
 * Records the user as holding the assignment and starts the time box. It starts when Identity
 * Center confirmed the creation, as far as the bot can know: the last moment it saw the creation
 * still in progress (or asked for it). So a crash between the confirmation and this write never
 * lengthens the grant by the downtime.
 */
async function activate(ctx: ServiceContext, request: AccessRequest, held: HeldAssignment, record: AssignmentRecord, alreadyHeld: string | null, confirmedAfter: string | null | undefined): Promise<void> {
  await held.save(record);
  await change(ctx, request.id, ['GRANTING'], (r, now) => {
    const grantedAt = confirmedAfter && confirmedAfter < now ? confirmedAfter : now;
    const expiresAt = addDuration(grantedAt, r.duration);
    return {
      set: { ...transition(r, 'ACTIVE'), grant: { ...r.grant, grantedAt, expiresAt, alreadyHeld } },
      events: [{ type: 'grant.succeeded', requestId: r.id, actor: null, details: { grantedAt, expiresAt, alreadyHeld, creationRequestId: r.grant.creationRequestId } }],
      due: nextActiveCheck({ ...r, grant: { ...r.grant, grantedAt, expiresAt } }, ctx.policy) ?? expiresAt,
    };
  });
}

async function fail(ctx: ServiceContext, id: string, reason: string, cleanupPending: boolean): Promise<void> {
  await change(ctx, id, ['GRANTING'], (r, now) => ({
    set: { ...transition(r, 'FAILED'), grant: { ...r.grant, failure: reason, cleanupPending } },
    events: [{ type: 'grant.failed', requestId: id, actor: null, details: { reason, creationRequestId: r.grant.creationRequestId } }],
    due: cleanupPending ? later(now, 5000) : null,
  }));
}
