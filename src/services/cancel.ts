import { transition } from '../domain/request.ts';
import type { ServiceContext } from './context.ts';
import { decide, type DecisionResult } from './decision.ts';

/** The requester withdraws a request nobody has decided yet. */
export async function cancel(ctx: ServiceContext, requestId: string, slackUserId: string): Promise<DecisionResult> {
  return decide(ctx, requestId, slackUserId, 'cancel', (request, now) => {
    if (request.requester.slackUserId !== slackUserId) return { refuse: `You have no breakglass request ${requestId}.`, audit: true };
    if (request.status !== 'PENDING') return { refuse: `Request ${requestId} is ${request.status.toLowerCase()}, so it can no longer be cancelled.`, audit: false };
    if (now >= request.pendingUntil) return { refuse: `Request ${requestId} expired without a decision; there is nothing to cancel.`, audit: false };
    return {
      changes: {
        set: { ...transition(request, 'CANCELLED'), decision: { by: slackUserId, at: now, reason: null } },
        events: [{ type: 'request.cancelled', requestId, actor: { slackUserId, principalId: request.requester.principalId }, details: {} }],
        due: null,
      },
      message: `Request ${requestId} cancelled.`,
    };
  });
}
