import { addDuration } from '../domain/duration.ts';
import { kindOf, transition, type AccessRequest } from '../domain/request.ts';
import { change } from './change.ts';
import type { ServiceContext } from './context.ts';
import type { Changes } from './ports.ts';

/** PENDING → EXPIRED: nobody decided before the pending timeout. */
export function expiry(ctx: ServiceContext, r: AccessRequest): Changes {
  // An extension waits no longer than its grant runs: when that came first, it lapsed rather than timed out.
  const lapsed = kindOf(r) === 'extension' && r.pendingUntil < addDuration(r.createdAt, ctx.policy.pendingTimeout) ? 'it was not approved before the access it extends ended' : null;
  return {
    set: transition(r, 'EXPIRED'),
    events: [{ type: 'request.expired', requestId: r.id, actor: null, details: { pendingTimeout: ctx.policy.pendingTimeout, pendingUntil: r.pendingUntil, ...(lapsed ? { lapsed } : {}) } }],
    due: null,
  };
}

/** The sweeper's step for a pending request whose timeout has come. */
export async function expirePending(ctx: ServiceContext, id: string): Promise<void> {
  await change(ctx, id, ['PENDING'], (r, now) => (now >= r.pendingUntil ? expiry(ctx, r) : null));
}
