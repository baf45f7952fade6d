import type { ServiceContext } from './context.ts';
import { classifyHolders, lockOwnerFor, settleForeignCreation, withAssignmentLock } from './assignment-lock.ts';
import { grant } from './grant.ts';
import { mutate, reschedule } from './mutate.ts';
import { describeError, pollUntilSettled } from './poll.ts';
import { withLease } from './lease.ts';
import { continueRevoke, startRevoke } from './revoke.ts';
import { expiry } from './decide.ts';

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
  await mutate(ctx, id, ['PENDING'], (r, now) => (now >= r.pendingUntil ? expiry(ctx, r) : null));
}

/**
 * A grant Identity Center never confirmed may still have landed. Until its
 * creation settles, keep checking; if it did land and nothing else relies on
 * the assignment, delete it, so a failed grant leaves no access behind.
 */
export async function cleanUpUnconfirmedGrant(ctx: ServiceContext, id: string): Promise<void> {
  await withLease(ctx, id, 'FAILED', async (request) => {
    const t = request.target;
    try {
      const locked = await withAssignmentLock(ctx, t, lockOwnerFor(id), async (held) => {
        const settled = await settleForeignCreation(ctx, held.record, t, id);
        if (settled === 'wait') return reschedule(ctx, id, 2000);
        const holders = await classifyHolders(ctx, settled.holders, t, id);
        if (holders.deleting.length > 0) return reschedule(ctx, id, 2000);
        const creationId = request.grant.creationRequestId;
        if (creationId || request.grant.creationAttemptedAt) {
          const created = creationId ? await ctx.ic.creationStatus(t.instanceArn, creationId) : { state: (await ctx.ic.hasAssignment(t)) ? 'SUCCEEDED' : 'FAILED' };
          if (created.state === 'IN_PROGRESS') return reschedule(ctx, id, 5000);
          if (created.state === 'SUCCEEDED' && holders.relying.length === 0 && !settled.heldBefore) {
            held.check();
            const deletionId = await ctx.ic.startDeletion(t);
            const deleted = await pollUntilSettled(() => ctx.ic.deletionStatus(t.instanceArn, deletionId), Date.now() + ctx.timing.pollRoundMs);
            if (deleted.state !== 'SUCCEEDED') return reschedule(ctx, id, 10_000);
          }
        }
        await held.save({ holders: holders.relying, heldBefore: settled.heldBefore, creating: null });
        await ctx.slots.release(id, request.grant.creationSlot);
        await mutate(ctx, id, ['FAILED'], (r) => ({
          set: { grant: { ...r.grant, cleanupPending: false } },
          events: [{ type: 'revoke.succeeded', requestId: id, actor: null, details: { cleanup: true, note: 'nothing left behind by the failed grant' } }],
          due: null,
        }));
      });
      if (!locked) await reschedule(ctx, id, 2000);
    } catch (err) {
      ctx.log.warn({ err, event: 'grant.cleanup_error', requestId: id }, describeError(err));
      await reschedule(ctx, id, 10_000);
    }
  });
}
