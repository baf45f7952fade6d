import type { AccessRequest } from '../domain/request.ts';
import type { ServiceContext } from './context.ts';

/** Every request the sweeper still has work on (the due index): all not yet final, and failed grants being cleaned up; read fresh. Ended grants awaiting their activity report are not live. */
export async function liveRequests(ctx: ServiceContext): Promise<AccessRequest[]> {
  return readFresh(ctx, await ctx.requests.due(null, 500));
}

/** A person's open requests and active access (what `/breakglass status` lists). */
export async function openRequestsOf(ctx: ServiceContext, slackUserId: string): Promise<AccessRequest[]> {
  // Only this person's (filtered by the table): reading every live request fresh for each
  // `/breakglass status` was most of what 200 concurrent commands cost.
  return (await readFresh(ctx, await ctx.requests.dueOf(slackUserId))).filter((r) => r.requester.slackUserId === slackUserId);
}

/** What the due index lists, read fresh (the index lags), without what was revoked meanwhile. */
async function readFresh(ctx: ServiceContext, listed: Array<{ id: string }>): Promise<AccessRequest[]> {
  const found = await Promise.all(listed.map((item) => ctx.requests.get(item.id)));
  return found.filter((r): r is AccessRequest => r !== null && r.status !== 'REVOKED');
}
