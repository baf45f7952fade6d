import { evaluateApproval, evaluateDenial } from '../domain/approval.ts';
import type { AccessRequest } from '../domain/request.ts';
import type { NewEvent } from '../audit/events.ts';
import { ConflictError, type Changes } from '../store/requests.ts';
import type { ServiceContext } from './context.ts';

export type DecisionResult = { ok: true; message: string } | { ok: false; message: string };

const MAX_CONFLICT_RETRIES = 8;

/** What a decision makes of the request as it is now: a refusal (audited unless harmless), or a guarded change. */
type Verdict =
  | { refuse: string; audit: boolean }
  | { changes: Changes; message: string; then?: () => void };

/** Audits a refused attempt on a request (self-approval, not an approver, no longer pending, ...). */
export async function recordRejection(ctx: ServiceContext, requestId: string, slackUserId: string, action: string, reason: string): Promise<void> {
  const event: NewEvent = { type: 'attempt.rejected', requestId, actor: { slackUserId, principalId: null }, details: { action, reason } };
  await ctx.requests.update(requestId, null, { events: [event] }, ctx.now());
  ctx.eventsQueued();
}

/**
 * Reads the request, lets `judge` decide, and writes the change guarded by
 * the status and version it was judged on; when another writer got there
 * first, judges again on the fresh request. So double clicks, concurrent
 * clicks and Slack retries apply once.
 */
async function decide(
  ctx: ServiceContext,
  requestId: string,
  slackUserId: string,
  action: string,
  judge: (request: AccessRequest, now: string) => Verdict,
): Promise<DecisionResult> {
  for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
    const request = await ctx.requests.get(requestId);
    if (!request) return { ok: false, message: `There is no breakglass request ${requestId}.` };
    const now = ctx.now();
    const verdict = judge(request, now);
    if ('refuse' in verdict) {
      if (verdict.audit) await recordRejection(ctx, requestId, slackUserId, action, verdict.refuse);
      return { ok: false, message: verdict.refuse };
    }
    try {
      await ctx.requests.update(requestId, { status: request.status, version: request.version }, verdict.changes, now);
    } catch (err) {
      if (err instanceof ConflictError) continue;
      throw err;
    }
    ctx.eventsQueued();
    verdict.then?.();
    return { ok: true, message: verdict.message };
  }
  return { ok: false, message: 'The request is changing quickly; please try again.' };
}

/**
 * An approver clicks Approve. Eligibility is read now, not when the request
 * was routed; the requester never counts and each approver counts once.
 */
export async function approve(ctx: ServiceContext, requestId: string, approverSlackId: string): Promise<DecisionResult> {
  const eligible = await ctx.directory.isApprover(approverSlackId);
  return decide(ctx, requestId, approverSlackId, 'approve', (request, now) => {
    const outcome = evaluateApproval(request, approverSlackId, eligible, now);
    if (!outcome.ok) return { refuse: outcome.rejection.message, audit: outcome.rejection.kind !== 'duplicate' };
    const actor = { slackUserId: approverSlackId, principalId: null };
    const events: NewEvent[] = [{ type: 'approval.given', requestId, actor, details: { count: outcome.approvals.length, required: request.approvalsRequired } }];
    if (!outcome.quorumReached) {
      return { changes: { set: { approvals: outcome.approvals }, events }, message: `Approved: ${outcome.approvals.length} of ${request.approvalsRequired} approvals so far.` };
    }
    events.push({ type: 'request.approved', requestId, actor, details: { approvers: outcome.approvals.map((a) => a.slackUserId) } });
    return {
      changes: { set: { approvals: outcome.approvals, status: 'APPROVED', decision: { by: approverSlackId, at: now, reason: null } }, events, due: now },
      message: `Approved: that was approval ${outcome.approvals.length} of ${request.approvalsRequired}; access is being granted.`,
      then: () => ctx.workQueued(requestId),
    };
  });
}

/** Any eligible approver may deny a pending request, with a reason. */
export async function deny(ctx: ServiceContext, requestId: string, approverSlackId: string, reason: string): Promise<DecisionResult> {
  const eligible = await ctx.directory.isApprover(approverSlackId);
  return decide(ctx, requestId, approverSlackId, 'deny', (request, now) => {
    const outcome = evaluateDenial(request, approverSlackId, eligible);
    if (!outcome.ok) return { refuse: outcome.rejection.message, audit: true };
    return {
      changes: {
        set: { status: 'DENIED', decision: { by: approverSlackId, at: now, reason } },
        events: [{ type: 'request.denied', requestId, actor: { slackUserId: approverSlackId, principalId: null }, details: { reason } }],
        due: null,
      },
      message: 'Denied. The requester has been told why.',
    };
  });
}

/** The requester withdraws a request nobody has decided yet. */
export async function cancel(ctx: ServiceContext, requestId: string, slackUserId: string): Promise<DecisionResult> {
  return decide(ctx, requestId, slackUserId, 'cancel', (request, now) => {
    if (request.requester.slackUserId !== slackUserId) return { refuse: `You have no breakglass request ${requestId}.`, audit: true };
    if (request.status !== 'PENDING') return { refuse: `Request ${requestId} is ${request.status.toLowerCase()}, so it can no longer be cancelled.`, audit: false };
    return {
      changes: {
        set: { status: 'CANCELLED', decision: { by: slackUserId, at: now, reason: null } },
        events: [{ type: 'request.cancelled', requestId, actor: { slackUserId, principalId: request.requester.principalId }, details: {} }],
        due: null,
      },
      message: `Request ${requestId} cancelled.`,
    };
  });
}
