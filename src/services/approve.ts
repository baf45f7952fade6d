import { evaluateApproval } from '../domain/approval.ts';
import type { DomainEvent } from '../domain/events.ts';
import { transition } from '../domain/request.ts';
import type { ServiceContext } from './context.ts';
import { decide, frozenMessage, type DecisionResult } from './decision.ts';

/**
 * An approver clicks Approve. Eligibility is read now, not when the request was routed; the
 * requester never counts and each approver counts once (domain/approval.ts). On quorum the
 * request is queued for its grant at once.
 */
export async function approve(ctx: ServiceContext, requestId: string, approverSlackId: string): Promise<DecisionResult> {
  const frozen = await frozenMessage(ctx, 'No approval counts');
  if (frozen) return { ok: false, message: frozen };
  const eligible = await ctx.directory.isApprover(approverSlackId);
  return decide(ctx, requestId, approverSlackId, 'approve', (request, now) => {
    const outcome = evaluateApproval(request, approverSlackId, eligible, now);
    if (!outcome.ok) return { refuse: outcome.rejection.message, audit: outcome.rejection.kind !== 'duplicate' };
    const actor = { slackUserId: approverSlackId, principalId: null };
    const events: DomainEvent[] = [{ type: 'approval.given', requestId, actor, details: { count: outcome.approvals.length, required: request.approvalsRequired } }];
    if (!outcome.quorumReached) {
      return { changes: { set: { approvals: outcome.approvals }, events }, message: `Approved: ${outcome.approvals.length} of ${request.approvalsRequired} approvals so far.` };
    }
    events.push({ type: 'request.approved', requestId, actor, details: { approvers: outcome.approvals.map((a) => a.slackUserId) } });
    return {
      changes: { set: { ...transition(request, 'APPROVED'), approvals: outcome.approvals, decision: { by: approverSlackId, at: now, reason: null } }, events, due: now },
      message: `Approved: that was approval ${outcome.approvals.length} of ${request.approvalsRequired}; access is being granted.`,
      then: () => ctx.workQueued(requestId),
    };
  });
}
