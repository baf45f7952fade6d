import type { ServiceContext } from './context.ts';
import { mayRevoke } from './eligibility.ts';
import { recordRejection, type DecisionResult } from './decision.ts';
import { startRevoke } from './revoke.ts';

/** The requester, or any approver, ends access before it runs out: the revoke starts now. */
export async function endAccess(ctx: ServiceContext, id: string, bySlackId: string): Promise<DecisionResult> {
  const request = await ctx.requests.get(id);
  if (!request) return { ok: false, message: `There is no breakglass request ${id}.` };
  const allowed = request.requester.slackUserId === bySlackId || (await mayRevoke(ctx, request.profileId, bySlackId));
  if (!allowed) {
    const reason = 'Only the requester or an approver can end this access.';
    await recordRejection(ctx, id, bySlackId, 'end access', reason);
    return { ok: false, message: reason };
  }
  if (request.status === 'APPROVED' || request.status === 'GRANTING') {
    return { ok: false, message: 'Access is still being granted; try again in a few seconds.' };
  }
  if (request.status !== 'ACTIVE') return { ok: false, message: `Access for ${id} is not active (it is ${request.status.toLowerCase()}).` };
  const started = await startRevoke(ctx, id, 'ended', bySlackId);
  if (started) ctx.workQueued(id);
  return started ? { ok: true, message: 'Ending access now; you will get a message when it is removed.' } : { ok: false, message: 'Access is already ending.' };
}
