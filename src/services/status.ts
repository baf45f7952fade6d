import type { AccessRequest } from '../domain/request.ts';
import type { ServiceContext } from './context.ts';

/** Every request the sweeper still has work on (the due index): all not yet final, and failed grants being cleaned up; read fresh. Ended grants awaiting their activity report are not live. */
export async function liveRequests(ctx: ServiceContext): Promise<AccessRequest[]> {
  const found = await Promise.all((await ctx.requests.due(null, 500)).map((item) => ctx.requests.get(item.id)));
  return found.filter((r): r is AccessRequest => r !== null && r.status !== 'REVOKED');
}

/** A person's open requests and active access (what `/breakglass status` lists). */
export async function openRequestsOf(ctx: ServiceContext, slackUserId: string): Promise<AccessRequest[]> {
  // Only this person's (filtered by the table): reading every live request fresh for each
  // `/breakglass status` was most of what 200 concurrent commands cost.
  const found = await Promise.all((await ctx.requests.dueOf(slackUserId)).map((item) => ctx.requests.get(item.id)));
  return found.filter((r): r is AccessRequest => r !== null && r.status !== 'REVOKED' && r.requester.slackUserId === slackUserId);
}
