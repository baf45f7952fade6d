import type { ServiceContext } from './context.ts';
import { assignmentLockUntil, grant, lockOwnerFor, reschedule } from './grant.ts';
import { mutate } from './mutate.ts';
import { describeError, pollUntilSettled } from './poll.ts';
import { withLease } from './lease.ts';
import { continueRevoke, startRevoke } from './revoke.ts';

/**
 * Moves one request along whatever its state asks for now. The sweeper calls
 * this for every request whose due time has come; so do listeners that just
 * caused work (quorum reached, end access).
 */
export async function advance(ctx: ServiceContext, id: string): Promise<void> {
  const request = await ctx.requests.get(id);
  if (!request) return;
  const now = ctx.now();
  switch (request.status) {
    case 'PENDING':
      if (now >= request.pendingUntil) await expirePending(ctx, id);
      return;
    case 'APPROVED':
    case 'GRANTING':
      await grant(ctx, id);
      return;
    case 'ACTIVE':
      if (request.grant.expiresAt && now >= request.grant.expiresAt) {
        if (await startRevoke(ctx, id, 'expired', null)) await continueRevoke(ctx, id);
      }
      return;
    case 'REVOKING':
      await continueRevoke(ctx, id);
      return;
    case 'FAILED':
      if (request.grant.cleanupPending) await cleanUpUnconfirmedGrant(ctx, id);
      else await mutate(ctx, id, ['FAILED'], () => ({ due: null }));
      return;
    default:
      await mutate(ctx, id, [request.status], () => ({ due: null }));
  }
}

export async function expirePending(ctx: ServiceContext, id: string): Promise<void> {
  await mutate(ctx, id, ['PENDING'], (r, now) =>
    now >= r.pendingUntil
      ? {
          set: { status: 'EXPIRED' },
          events: [{ type: 'request.expired', requestId: id, actor: null, details: { pendingTimeout: ctx.policy.pendingTimeout, pendingUntil: r.pendingUntil } }],
          due: null,
        }
      : null,
  );
}

/**
 * A grant Identity Center never confirmed may still have landed. Until its
 * creation settles, keep checking; if it did land and nothing else relies on
 * the assignment, delete it, so a failed grant leaves no access behind.
 */
async function cleanUpUnconfirmedGrant(ctx: ServiceContext, id: string): Promise<void> {
  await withLease(ctx, id, 'FAILED', async (request) => {
    const t = request.target;
    const owner = lockOwnerFor(id);
    const now = ctx.now();
    try {
      const creationId = request.grant.creationRequestId;
      const record = await ctx.assignments.lock(t, owner, now, assignmentLockUntil(ctx, now));
      if (!record) return reschedule(ctx, id, 2000);
      if (creationId || request.grant.creationAttemptedAt) {
        const created = creationId ? await ctx.ic.creationStatus(t.instanceArn, creationId) : { state: (await ctx.ic.hasAssignment(t)) ? 'SUCCEEDED' : 'FAILED' };
        if (created.state === 'IN_PROGRESS') return reschedule(ctx, id, 5000);
        if (created.state === 'SUCCEEDED' && record.holders.filter((h) => h !== id).length === 0 && !record.heldBefore) {
          const deletionId = await ctx.ic.startDeletion(t);
          const deleted = await pollUntilSettled(() => ctx.ic.deletionStatus(t.instanceArn, deletionId), Date.now() + ctx.timing.pollRoundMs);
          if (deleted.state !== 'SUCCEEDED') return reschedule(ctx, id, 10_000);
        }
      }
      await ctx.assignments.saveAndUnlock(t, owner, { holders: record.holders.filter((h) => h !== id), heldBefore: record.heldBefore });
      await ctx.slots.release(id, request.grant.creationSlot);
      await mutate(ctx, id, ['FAILED'], (r) => ({
        set: { grant: { ...r.grant, cleanupPending: false } },
        events: [{ type: 'revoke.succeeded', requestId: id, actor: null, details: { cleanup: true, note: 'nothing left behind by the failed grant' } }],
        due: null,
      }));
    } catch (err) {
      ctx.log.warn({ err, event: 'grant.cleanup_error', requestId: id }, describeError(err));
      await reschedule(ctx, id, 10_000);
    }
  });
}
