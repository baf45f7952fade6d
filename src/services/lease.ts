import type { AccessRequest, RequestStatus } from '../domain/request.ts';
import type { ServiceContext } from './context.ts';
import { later } from './change.ts';
import type { Lease } from './ports.ts';

/** This process's lease from `now`, for a change that starts slow work to take with it (Changes.lease). */
export function leaseFrom(ctx: ServiceContext, now: string): Lease {
  return { owner: ctx.owner, until: later(now, ctx.timing.leaseMs) };
}

/**
 * Runs slow work on a request under a short lease that is renewed while the
 * work runs: replicas and the sweeper skip a request someone holds, and a
 * killed holder's lease runs out within one lease period, so a restarted or
 * surviving replica takes over in seconds. Returns false when someone else
 * holds the request (or it is no longer in `status`). `taken`: the request as
 * written by the change that took the lease (Changes.lease), so it is not claimed again.
 */
export async function withLease(ctx: ServiceContext, id: string, status: RequestStatus, work: (claimed: AccessRequest) => Promise<void>, taken: AccessRequest | null = null): Promise<boolean> {
  const now = ctx.clock.now();
  // The change that took the lease wrote it from its own time (its updatedAt): claimed afresh when a third of it is gone already.
  const fresh = taken?.status === status && Date.parse(taken.updatedAt) + ctx.timing.leaseMs - ctx.clock.ms() > (ctx.timing.leaseMs * 2) / 3;
  const claimed = fresh ? taken : await ctx.requests.claim(id, ctx.owner, status, now, later(now, ctx.timing.leaseMs));
  if (!claimed) return false;
  const stopRenewing = ctx.clock.every(Math.max(250, Math.floor(ctx.timing.leaseMs / 3)), () => {
    const at = ctx.clock.now();
    // Once the request has moved on (e.g. GRANTING → ACTIVE) the claim fails, which is fine: that change ended the lease.
    void ctx.requests.claim(id, ctx.owner, status, at, later(at, ctx.timing.leaseMs)).catch((err: unknown) => ctx.log.warn({ err, event: 'lease.renew_failed', requestId: id }, 'could not renew lease'));
  });
  try {
    await work(claimed);
  } finally {
    stopRenewing();
    // A change that moved the request on ended the lease in the same write (services/change.ts): a read, not a second write.
    if ((await ctx.requests.get(id))?.status === status) await ctx.requests.release(id, ctx.owner);
  }
  return true;
}
