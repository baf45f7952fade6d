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

/** Whether the nth refusal of one person on one request is audited: the 1st, 10th, 100th, … (so repeats cannot grow the record without bound). */
export const auditedRefusal = (n: number) => n >= 1 && Number.isInteger(Math.log10(n));

/**
 * Records a refused attempt on a request (self-approval, not an approver, no longer pending, ...).
 * Every refusal is counted; the audit record gets the 1st, 10th, 100th, … of each person, with the count.
 */
export async function recordRejection(ctx: ServiceContext, requestId: string, slackUserId: string, action: string, reason: string): Promise<void> {
  const now = ctx.now();
  const count = await ctx.requests.countRefusal(requestId, slackUserId, action, now);
  if (!auditedRefusal(count)) return;
  const event: NewEvent = { type: 'attempt.rejected', requestId, actor: { slackUserId, principalId: null }, details: { action, reason, count } };
  if (await ctx.requests.appendEvents(requestId, [event], now)) ctx.eventsQueued();
}

/** PENDING → EXPIRED: nobody decided before the pending timeout. */
export function expiry(ctx: ServiceContext, r: AccessRequest): Changes {
  return {
    set: { status: 'EXPIRED' },
    events: [{ type: 'request.expired', requestId: r.id, actor: null, details: { pendingTimeout: ctx.policy.pendingTimeout, pendingUntil: r.pendingUntil } }],
    due: null,
  };
}

/**
 * Reads the request, lets `judge` decide, and writes the change guarded by
 * the status and version it was judged on; when another writer got there
 * first, judges again on the fresh request. So double clicks, concurrent
 * clicks and Slack retries apply once. A pending request past its timeout is
 * expired by the decision itself, whatever the sweeper has got to.
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
      const late = request.status === 'PENDING' && now >= request.pendingUntil;
      if (late) await write(ctx, request, expiry(ctx, request), now);
      return { ok: false, message: verdict.refuse };
    }
    if (!(await write(ctx, request, verdict.changes, now))) continue;
    verdict.then?.();
    return { ok: true, message: verdict.message };
  }
  return { ok: false, message: 'The request is changing quickly; please try again.' };
}

/** One guarded write; false when another writer changed the request first. */
async function write(ctx: ServiceContext, request: AccessRequest, changes: Changes, now: string): Promise<boolean> {
  try {
    await ctx.requests.update(request.id, { status: request.status, version: request.version }, changes, now);
  } catch (err) {
    if (err instanceof ConflictError) return false;
    throw err;
  }
  if (changes.events?.length) ctx.eventsQueued();
  return true;
}

/** While an operator's freeze holds, nothing is approved; says who froze it and why. */
async function frozenMessage(ctx: ServiceContext, what: string): Promise<string | null> {
  const f = await ctx.freeze.get();
  return f ? `breakglass is frozen: ${f.by} ran revoke-all at ${f.at} (${f.reason}). ${what} until an operator runs \`breakglass unfreeze\`.` : null;
}

/**
 * An approver clicks Approve. Eligibility is read now, not when the request
 * was routed; the requester never counts and each approver counts once.
 */
export async function approve(ctx: ServiceContext, requestId: string, approverSlackId: string): Promise<DecisionResult> {
  const frozen = await frozenMessage(ctx, 'No approval counts');
  if (frozen) return { ok: false, message: frozen };
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
    const outcome = evaluateDenial(request, approverSlackId, eligible, now);
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
    if (now >= request.pendingUntil) return { refuse: `Request ${requestId} expired without a decision; there is nothing to cancel.`, audit: false };
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
