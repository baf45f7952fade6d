import { evaluateDenial } from '../domain/approval.ts';
import type { DomainEvent } from '../domain/events.ts';
import { kindOf, transition, type AccessRequest } from '../domain/request.ts';
import type { ServiceContext } from './context.ts';
import { decide, recordRejection, type DecisionResult, type Verdict } from './decision.ts';
import { mayDecide } from './eligibility.ts';

/**
 * An approver of the request denies it, with a reason the requester is told. The profile's
 * `denials` distinct denials end a request; one denial ends an emergency grant (it is revoked).
 */
export async function deny(ctx: ServiceContext, requestId: string, approverSlackId: string, reason: string): Promise<DecisionResult> {
  const found = await ctx.requests.get(requestId);
  if (!found) return { ok: false, message: `There is no breakglass request ${requestId}.` };
  const eligible = await mayDecide(ctx, found, approverSlackId, ctx.clock.now());
  return decide(ctx, requestId, approverSlackId, 'deny', (request, now): Verdict => {
    const outcome = evaluateDenial(request, approverSlackId, eligible, now, reason);
    if (!outcome.ok) return { refuse: outcome.rejection.message, audit: outcome.rejection.kind !== 'duplicate' };
    const actor = { slackUserId: approverSlackId, principalId: null };
    const { denials, approvals } = outcome;
    if (kindOf(request) === 'emergency' && request.emergency) {
      const events: DomainEvent[] = [
        { type: 'request.denied', requestId, actor, details: { reason } },
        { type: 'emergency.rejected', requestId, actor, details: { why: 'denied', reason } },
      ];
      return {
        changes: { set: { denials, approvals, decision: { by: approverSlackId, at: now, reason }, emergency: { ...request.emergency, rejected: { why: 'denied', by: approverSlackId, at: now, reason } } }, events, due: now },
        message: 'Denied: the emergency access is being revoked now.',
        then: () => ctx.workQueued(requestId),
      };
    }
    if (!outcome.final) {
      const required = request.denialsRequired ?? 1;
      return {
        changes: { set: { denials, approvals }, events: [{ type: 'denial.given', requestId, actor, details: { count: denials.length, required, reason } }] },
        message: `Denial recorded: ${denials.length} of the ${required} denials that end this request.`,
      };
    }
    return {
      changes: {
        set: { ...transition(request, 'DENIED'), denials, approvals, decision: { by: approverSlackId, at: now, reason } },
        events: [{ type: 'request.denied', requestId, actor, details: { reason } }],
        due: null,
      },
      message: 'Denied. The requester has been told why.',
    };
  });
}

/**
 * What the Deny button needs before the reason form opens: the request open for this person's
 * decision, or why not (so nobody types a reason that cannot count). The denial re-checks all of it.
 */
export async function deniable(ctx: ServiceContext, requestId: string, slackUserId: string): Promise<{ request: AccessRequest } | { refuse: string }> {
  const request = await ctx.requests.get(requestId);
  if (!request) return { refuse: `There is no breakglass request ${requestId}.` };
  const now = ctx.clock.now();
  const outcome = evaluateDenial(request, slackUserId, await mayDecide(ctx, request, slackUserId, now), now, '');
  if (outcome.ok) return { request };
  const { kind, message } = outcome.rejection;
  if (kind === 'self' || kind === 'ineligible') await recordRejection(ctx, requestId, slackUserId, 'deny', message);
  return { refuse: message };
}
