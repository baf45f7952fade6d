import { openForDecisions } from '../domain/approval.ts';
import { pendingDue, planNudges } from '../domain/nudges.ts';
import type { AccessRequest } from '../domain/request.ts';
import { change } from './change.ts';
import type { ServiceContext } from './context.ts';
import { eligibleApprovers } from './eligibility.ts';

/**
 * The sweeper's step for a request open for decisions whose nudge time has come: escalates it
 * (once) and/or reminds the approvers who have not acted, in the approval message's thread (the
 * publisher posts the events), and sets when the request is next due: `dueAfter` of the request
 * as written, by default a pending request's next nudge or timeout (a caller whose request is due
 * for other work too, such as an emergency grant's expiry, passes its own). Nothing happens once
 * decisions are taken; the due time moves on whether or not anything was due.
 */
export async function nudgeApprovers(ctx: ServiceContext, id: string, dueAfter: (r: AccessRequest) => string | null = (r) => pendingDue(r, ctx.policy)): Promise<AccessRequest | null> {
  const found = await ctx.requests.get(id);
  const looked = ctx.clock.now();
  if (!found || openForDecisions(found, looked)) return null;
  // The directory is read before the guarded write, whose judgement cannot wait on Slack.
  const escalation = ctx.policy.escalation;
  const people = {
    eligible: await eligibleApprovers(ctx, found, looked),
    pool: escalation ? await ctx.directory.members(escalation.approvers) : [],
  };
  return change(ctx, id, [found.status], (r, now) => {
    if (openForDecisions(r, now)) return null;
    const plan = planNudges(r, ctx.policy, now, people);
    if (!plan) return { due: dueAfter(r) };
    return { set: { nudges: plan.nudges }, ...(plan.events.length > 0 ? { events: plan.events } : {}), due: dueAfter({ ...r, nudges: plan.nudges }) };
  });
}
