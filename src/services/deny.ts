import { evaluateDenial } from '../domain/approval.ts';
import { transition, type AccessRequest } from '../domain/request.ts';
import type { ServiceContext } from './context.ts';
import { decide, type DecisionResult } from './decision.ts';

/** Any eligible approver may deny a pending request, with a reason the requester is told. */
export async function deny(ctx: ServiceContext, requestId: string, approverSlackId: string, reason: string): Promise<DecisionResult> {
  const eligible = await ctx.directory.isApprover(approverSlackId);
  return decide(ctx, requestId, approverSlackId, 'deny', (request, now) => {
    const outcome = evaluateDenial(request, approverSlackId, eligible, now);
    if (!outcome.ok) return { refuse: outcome.rejection.message, audit: true };
    return {
      changes: {
        set: { ...transition(request, 'DENIED'), decision: { by: approverSlackId, at: now, reason } },
        events: [{ type: 'request.denied', requestId, actor: { slackUserId: approverSlackId, principalId: null }, details: { reason } }],
        due: null,
      },
      message: 'Denied. The requester has been told why.',
    };
  });
}

/** What the Deny button needs before the reason form opens: the pending request, or why it cannot be denied. */
export async function deniable(ctx: ServiceContext, requestId: string): Promise<{ request: AccessRequest } | { refuse: string }> {
  const request = await ctx.requests.get(requestId);
  if (!request) return { refuse: `There is no breakglass request ${requestId}.` };
  if (request.status !== 'PENDING') return { refuse: `This request is no longer waiting for a decision (it is ${request.status.toLowerCase()}).` };
  return { request };
}
