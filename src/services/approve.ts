import { evaluateApproval, rulesOf } from '../domain/approval.ts';
import type { DomainEvent } from '../domain/events.ts';
import { kindOf, transition } from '../domain/request.ts';
import type { ServiceContext } from './context.ts';
import { decide, frozenMessage, type DecisionResult } from './decision.ts';
import { approverRules } from './eligibility.ts';

/**
 * An approver clicks Approve (on an emergency: Ratify). Eligibility is read now, not when the
 * request was routed: the rules this person may count toward (services/eligibility.ts); the
 * requester never counts, each approver counts once and toward one rule (domain/approval.ts).
 * On quorum a request is queued for its grant at once; an emergency is ratified.
 */
export async function approve(ctx: ServiceContext, requestId: string, approverSlackId: string): Promise<DecisionResult> {
  const frozen = await frozenMessage(ctx, 'No approval counts');
  if (frozen) return { ok: false, message: frozen };
  const found = await ctx.requests.get(requestId);
  if (!found) return { ok: false, message: `There is no breakglass request ${requestId}.` };
  const eligible = await approverRules(ctx, found, approverSlackId, ctx.clock.now());
  return decide(ctx, requestId, approverSlackId, 'approve', (request, now) => {
    const outcome = evaluateApproval(request, approverSlackId, eligible, now);
    if (!outcome.ok) return { refuse: outcome.rejection.message, audit: outcome.rejection.kind !== 'duplicate' };
    const { tally } = outcome;
    const actor = { slackUserId: approverSlackId, principalId: null };
    const events: DomainEvent[] = [{ type: 'approval.given', requestId, actor, details: { count: tally.counted, required: tally.required, ...(outcome.counts ? {} : { counted: false }) } }];
    const approvers = tally.perRule.flat();
    if (!outcome.quorumReached) {
      const open = rulesOf(request)
        .map((rule, i) => ({ rule, missing: rule.count - (tally.perRule[i]?.length ?? 0) }))
        .filter((x) => x.missing > 0)
        .map((x) => `${x.missing} from ${x.rule.label}`);
      const message = outcome.counts
        ? `Approved: ${tally.counted} of ${tally.required} approvals so far.`
        : `Your approval is recorded, but the rules you count toward are already met; still needed: ${open.join(', ')}.`;
      return { changes: { set: { approvals: outcome.approvals }, events }, message };
    }
    if (kindOf(request) === 'emergency' && request.emergency) {
      events.push({ type: 'emergency.ratified', requestId, actor, details: { approvers } });
      return {
        changes: { set: { approvals: outcome.approvals, emergency: { ...request.emergency, ratifiedAt: now } }, events, due: now },
        message: `Ratified: that was approval ${tally.counted} of ${tally.required}; the emergency access stands until it ends.`,
        then: () => ctx.workQueued(requestId),
      };
    }
    events.push({ type: 'request.approved', requestId, actor, details: { approvers } });
    const what = kindOf(request) === 'extension' ? 'the access is being extended' : 'access is being granted';
    return {
      changes: { set: { ...transition(request, 'APPROVED'), approvals: outcome.approvals, decision: { by: approverSlackId, at: now, reason: null } }, events, due: now },
      message: `Approved: that was approval ${tally.counted} of ${tally.required}; ${what}.`,
      then: () => ctx.workQueued(requestId),
    };
  });
}
