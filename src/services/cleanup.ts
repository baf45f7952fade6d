import { classifyHolders, lockOwnerFor, settleForeignCreation, withAssignmentLock } from './assignment-lock.ts';
import { change, reschedule } from './change.ts';
import type { ServiceContext } from './context.ts';
import { withLease } from './lease.ts';
import { describeError, pollUntilSettled } from './poll.ts';

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
            // A deletion already asked for is waited on, not asked for again (a slow one would otherwise never finish).
            let deletionId = request.grant.cleanupDeletionId ?? null;
            if (!deletionId) {
              held.check();
              const started = await ctx.ic.startDeletion(t);
              deletionId = started;
              if (!(await change(ctx, id, ['FAILED'], (r) => ({ set: { grant: { ...r.grant, cleanupDeletionId: started } } })))) return;
            }
            const asked = deletionId;
            const deleted = await pollUntilSettled(ctx.clock, () => ctx.ic.deletionStatus(t.instanceArn, asked), ctx.clock.ms() + ctx.timing.pollRoundMs);
            if (deleted.state === 'IN_PROGRESS') {
              await held.keepFor(5000);
              return reschedule(ctx, id, 5000);
            }
            if (deleted.state === 'FAILED' && (await ctx.ic.hasAssignment(t))) {
              await change(ctx, id, ['FAILED'], (r) => ({ set: { grant: { ...r.grant, cleanupDeletionId: null } } }));
              return reschedule(ctx, id, 10_000);
            }
          }
        }
        await held.save({ holders: holders.relying, heldBefore: settled.heldBefore, creating: null });
        await ctx.slots.release(id, request.grant.creationSlot);
        await change(ctx, id, ['FAILED'], (r) => ({
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
