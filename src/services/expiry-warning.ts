import { nextActiveCheck, warningAt } from '../domain/grant-time.ts';
import { change } from './change.ts';
import type { ServiceContext } from './context.ts';

/**
 * `expiryWarning` before an active grant ends, its requester is told (by DM, with Extend and End
 * access now). Once per end: an extension moves the end, and the new end is warned about again.
 * Otherwise the request is put back to sleep until its next check.
 */
export async function warnBeforeExpiry(ctx: ServiceContext, id: string): Promise<void> {
  const warning = ctx.policy.expiryWarning;
  await change(ctx, id, ['ACTIVE'], (r, now) => {
    const at = warningAt(r, warning);
    const expiresAt = r.grant.expiresAt;
    if (!at || now < at || !expiresAt) return { due: nextActiveCheck(r, ctx.policy) ?? expiresAt };
    const warned = { ...r, grant: { ...r.grant, warnedFor: expiresAt } };
    return {
      set: { grant: warned.grant },
      events: [{ type: 'access.expiring', requestId: id, actor: null, details: { expiresAt, warning } }],
      due: nextActiveCheck(warned, ctx.policy) ?? expiresAt,
    };
  });
}
