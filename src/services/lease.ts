import type { AccessRequest, RequestStatus } from '../domain/request.ts';
import type { ServiceContext } from './context.ts';
import { later } from './change.ts';

/**
 * Runs slow work on a request under a short lease that is renewed while the
 * work runs: replicas and the sweeper skip a request someone holds, and a
 * killed holder's lease runs out within one lease period, so a restarted or
 * surviving replica takes over in seconds. Returns false when someone else
 * holds the request (or it is no longer in `status`).
 */
export async function withLease(ctx: ServiceContext, id: string, status: RequestStatus, work: (claimed: AccessRequest) => Promise<void>): Promise<boolean> {
  const now = ctx.clock.now();
  const claimed = await ctx.requests.claim(id, ctx.owner, status, now, later(now, ctx.timing.leaseMs));
  if (!claimed) return false;
  const stopRenewing = ctx.clock.every(Math.max(250, Math.floor(ctx.timing.leaseMs / 3)), () => {
    const at = ctx.clock.now();
    // Once the request has moved on (e.g. GRANTING → ACTIVE) the claim fails, which is fine: the lease is released below.
    void ctx.requests.claim(id, ctx.owner, status, at, later(at, ctx.timing.leaseMs)).catch((err: unknown) => ctx.log.warn({ err, event: 'lease.renew_failed', requestId: id }, 'could not renew lease'));
  });
  try {
    await work(claimed);
  } finally {
    stopRenewing();
    await ctx.requests.release(id, ctx.owner);
  }
  return true;
}
