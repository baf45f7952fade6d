import type { DomainEvent } from '../domain/events.ts';
import type { AccessRequest } from '../domain/request.ts';
import { write } from './change.ts';
import type { ServiceContext } from './context.ts';
import { expiry } from './expire.ts';
import type { Changes } from './ports.ts';

/** What a person's action came to, in words for them. */
export type DecisionResult = { ok: boolean; message: string };

/** What a decision makes of the request as it is now: a refusal (audited unless harmless), or a guarded change. */
export type Verdict = { refuse: string; audit: boolean } | { changes: Changes; message: string; then?: () => void };

const MAX_CONFLICT_RETRIES = 8;

/** Whether the nth refusal of one person on one request is audited: the 1st, 10th, 100th, … (so repeats cannot grow the record without bound). */
export const auditedRefusal = (n: number) => n >= 1 && Number.isInteger(Math.log10(n));

/**
 * Records a refused attempt on a request (self-approval, not an approver, no longer pending, ...).
 * Every refusal is counted; the audit record gets the 1st, 10th, 100th, … of each person, with the count.
 */
export async function recordRejection(ctx: ServiceContext, requestId: string, slackUserId: string, action: string, reason: string): Promise<void> {
  const now = ctx.clock.now();
  const count = await ctx.requests.countRefusal(requestId, slackUserId, action, now);
  if (!auditedRefusal(count)) return;
  const event: DomainEvent = { type: 'attempt.rejected', requestId, actor: { slackUserId, principalId: null }, details: { action, reason, count } };
  if (await ctx.requests.appendEvents(requestId, [event], now)) ctx.eventsQueued();
}

/**
 * Reads the request, lets `judge` decide, and writes the change guarded by the status and
 * version it was judged on; when another writer got there first, judges again on the fresh
 * request. So double clicks, concurrent clicks and Slack retries apply once. A pending request
 * past its timeout is expired by the decision itself, whatever the sweeper has got to.
 */
export async function decide(
  ctx: ServiceContext,
  requestId: string,
  slackUserId: string,
  action: string,
  judge: (request: AccessRequest, now: string) => Verdict,
): Promise<DecisionResult> {
  for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
    const request = await ctx.requests.get(requestId);
    if (!request) return { ok: false, message: `There is no breakglass request ${requestId}.` };
    const now = ctx.clock.now();
    const verdict = judge(request, now);
    if ('refuse' in verdict) {
      if (verdict.audit) await recordRejection(ctx, requestId, slackUserId, action, verdict.refuse);
      if (request.status === 'PENDING' && now >= request.pendingUntil) await write(ctx, request, expiry(ctx, request), now);
      return { ok: false, message: verdict.refuse };
    }
    if (!(await write(ctx, request, verdict.changes, now))) continue;
    verdict.then?.();
    return { ok: true, message: verdict.message };
  }
  return { ok: false, message: 'The request is changing quickly; please try again.' };
}

/** While an operator's freeze holds, nothing is approved or requested; says who froze it and why. */
export async function frozenMessage(ctx: ServiceContext, what: string): Promise<string | null> {
  const f = await ctx.freeze.get();
  return f ? `breakglass is frozen: ${f.by} ran revoke-all at ${f.at} (${f.reason}). ${what} until an operator runs \`breakglass unfreeze\`.` : null;
}
