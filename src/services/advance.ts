import { reportActivity } from './activity-report.ts';
import { nextActiveCheck } from '../domain/grant-time.ts';
import { nextNudgeAt } from '../domain/nudges.ts';
import { kindOf } from '../domain/request.ts';
import { change } from './change.ts';
import { revokeRejectedEmergency } from './emergency.ts';
import { applyExtension } from './extend.ts';
import { warnBeforeExpiry } from './expiry-warning.ts';
import { cleanUpUnconfirmedGrant } from './cleanup.ts';
import type { ServiceContext } from './context.ts';
import { expirePending } from './expire.ts';
import { grant } from './grant.ts';
import { nudgeApprovers } from './nudge.ts';
import { continueRevoke, revokeNow } from './revoke.ts';

/**
 * Moves one request along whatever its state asks for now. The sweeper calls
 * this for every request whose due time has come; so do listeners that just
 * caused work (quorum reached, end access).
 */
export async function advance(ctx: ServiceContext, id: string): Promise<void> {
  const request = await ctx.requests.get(id);
  if (!request) return;
  const now = ctx.clock.now();
  switch (request.status) {
    case 'PENDING':
      if (now >= request.pendingUntil) await expirePending(ctx, id);
      else await nudgeApprovers(ctx, id);
      return;
    case 'APPROVED':
      if (kindOf(request) === 'extension') await applyExtension(ctx, id);
      else await grant(ctx, id);
      return;
    case 'GRANTING':
      await grant(ctx, id);
      return;
    case 'ACTIVE':
      if (request.grant.expiresAt && now >= request.grant.expiresAt) {
        await revokeNow(ctx, id, 'expired');
        return;
      }
      if (kindOf(request) === 'emergency') {
        if (await revokeRejectedEmergency(ctx, request)) {
          await continueRevoke(ctx, id);
          return;
        }
        // Approvers who have not ratified it yet are reminded like those of a pending request.
        const nudge = request.emergency && !request.emergency.ratifiedAt && !request.emergency.rejected ? nextNudgeAt(request, ctx.policy) : null;
        if (nudge && now >= nudge) {
          await nudgeApprovers(ctx, id, (r) => nextActiveCheck(r, ctx.policy));
          return;
        }
      }
      await warnBeforeExpiry(ctx, id);
      return;
    case 'REVOKING':
      await continueRevoke(ctx, id);
      return;
    case 'REVOKED':
      // Only the session activity report is ever due after the end (and never in the revoke's way).
      await reportActivity(ctx, id);
      return;
    case 'FAILED':
      if (request.grant.cleanupPending) await cleanUpUnconfirmedGrant(ctx, id);
      else await change(ctx, id, ['FAILED'], () => ({ due: null }));
      return;
    default:
      await change(ctx, id, [request.status], () => ({ due: null }));
  }
}
