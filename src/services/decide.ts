import { evaluateApproval, evaluateDenial } from '../domain/approval.ts';
import type { NewEvent } from '../audit/events.ts';
import { ConflictError } from '../store/requests.ts';
import type { ServiceContext } from './context.ts';

export type DecisionResult = { ok: true; message: string } | { ok: false; message: string };

const MAX_CONFLICT_RETRIES = 8;

async function recordRejection(ctx: ServiceContext, requestId: string, slackUserId: string, action: string, reason: string): Promise<void> {
  const event: NewEvent = { type: 'attempt.rejected', requestId, actor: { slackUserId, principalId: null }, details: { action, reason } };
  await ctx.requests.update(requestId, null, { events: [event] }, ctx.now());
  ctx.eventsQueued();
}

/**
 * An approver clicks Approve. Eligibility is read now, not when the request
 * was routed; the write is guarded by status and version, so double clicks,
 * concurrent clicks and Slack retries count once.
 */
export async function approve(ctx: ServiceContext, requestId: string, approverSlackId: string): Promise<DecisionResult> {
  const eligible = await ctx.directory.isApprover(approverSlackId);
  for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
    const request = await ctx.requests.get(requestId);
    if (!request) return { ok: false, message: `There is no breakglass request ${requestId}.` };
    const now = ctx.now();
    const outcome = evaluateApproval(request, approverSlackId, eligible, now);
    if (!outcome.ok) {
      if (outcome.rejection.kind !== 'duplicate') await recordRejection(ctx, requestId, approverSlackId, 'approve', outcome.rejection.message);
      return { ok: false, message: outcome.rejection.message };
    }
    const actor = { slackUserId: approverSlackId, principalId: null };
    const events: NewEvent[] = [
      { type: 'approval.given', requestId, actor, details: { count: outcome.approvals.length, required: request.approvalsRequired } },
    ];
    if (outcome.quorumReached) {
      events.push({ type: 'request.approved', requestId, actor, details: { approvers: outcome.approvals.map((a) => a.slackUserId) } });
    }
    try {
      await ctx.requests.update(
        requestId,
        { status: 'PENDING', version: request.version },
        {
          set: {
            approvals: outcome.approvals,
            ...(outcome.quorumReached ? { status: 'APPROVED' as const, decision: { by: approverSlackId, at: now, reason: null } } : {}),
          },
          events,
          ...(outcome.quorumReached ? { due: now } : {}),
        },
        now,
      );
    } catch (err) {
      if (err instanceof ConflictError) continue;
      throw err;
    }
    ctx.eventsQueued();
    if (outcome.quorumReached) {
      ctx.workQueued(requestId);
      return { ok: true, message: `Approved: that was approval ${outcome.approvals.length} of ${request.approvalsRequired}; access is being granted.` };
    }
    return { ok: true, message: `Approved: ${outcome.approvals.length} of ${request.approvalsRequired} approvals so far.` };
  }
  return { ok: false, message: 'The request is changing quickly; please click again.' };
}

/** Any eligible approver may deny a pending request, with a reason. */
export async function deny(ctx: ServiceContext, requestId: string, approverSlackId: string, reason: string): Promise<DecisionResult> {
  const eligible = await ctx.directory.isApprover(approverSlackId);
  for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
    const request = await ctx.requests.get(requestId);
    if (!request) return { ok: false, message: `There is no breakglass request ${requestId}.` };
    const outcome = evaluateDenial(request, approverSlackId, eligible);
    if (!outcome.ok) {
      await recordRejection(ctx, requestId, approverSlackId, 'deny', outcome.rejection.message);
      return { ok: false, message: outcome.rejection.message };
    }
    const now = ctx.now();
    try {
      await ctx.requests.update(
        requestId,
        { status: 'PENDING', version: request.version },
        {
          set: { status: 'DENIED', decision: { by: approverSlackId, at: now, reason } },
          events: [{ type: 'request.denied', requestId, actor: { slackUserId: approverSlackId, principalId: null }, details: { reason } }],
          due: null,
        },
        now,
      );
    } catch (err) {
      if (err instanceof ConflictError) continue;
      throw err;
    }
    ctx.eventsQueued();
    return { ok: true, message: 'Denied. The requester has been told why.' };
  }
  return { ok: false, message: 'The request is changing quickly; please try again.' };
}

/** The requester withdraws a request nobody has decided yet. */
export async function cancel(ctx: ServiceContext, requestId: string, slackUserId: string): Promise<DecisionResult> {
  for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
    const request = await ctx.requests.get(requestId);
    if (!request || request.requester.slackUserId !== slackUserId) return { ok: false, message: `You have no breakglass request ${requestId}.` };
    if (request.status !== 'PENDING') return { ok: false, message: `Request ${requestId} is ${request.status.toLowerCase()}, so it can no longer be cancelled.` };
    const now = ctx.now();
    try {
      await ctx.requests.update(
        requestId,
        { status: 'PENDING', version: request.version },
        {
          set: { status: 'CANCELLED', decision: { by: slackUserId, at: now, reason: null } },
          events: [{ type: 'request.cancelled', requestId, actor: { slackUserId, principalId: request.requester.principalId }, details: {} }],
          due: null,
        },
        now,
      );
    } catch (err) {
      if (err instanceof ConflictError) continue;
      throw err;
    }
    ctx.eventsQueued();
    return { ok: true, message: `Request ${requestId} cancelled.` };
  }
  return { ok: false, message: 'The request is changing quickly; please try again.' };
}
