import type { AccessRequest } from '../domain/request.ts';
import type { ServiceContext } from './context.ts';

/** A person's open requests and active access (what `/breakglass status` lists). */
export async function openRequestsOf(ctx: ServiceContext, slackUserId: string): Promise<AccessRequest[]> {
  const mine: AccessRequest[] = [];
  for (const item of await ctx.requests.due(null, 500)) {
    const r = await ctx.requests.get(item.id);
    if (r?.requester.slackUserId === slackUserId) mine.push(r);
  }
  return mine;
}
