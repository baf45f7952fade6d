import type { AccessRequest, RequestStatus } from '../domain/request.ts';
import { ConflictError, type Changes } from '../store/requests.ts';
import type { ServiceContext } from './context.ts';

const MAX_ATTEMPTS = 10;

/**
 * Applies a change to a request that is in one of the expected states,
 * re-reading and re-deciding when another writer got there first. Returns
 * null when the request is gone or has moved on to another state.
 */
export async function mutate(
  ctx: ServiceContext,
  id: string,
  expected: readonly RequestStatus[],
  build: (request: AccessRequest, now: string) => Changes | null,
): Promise<AccessRequest | null> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const request = await ctx.requests.get(id);
    if (!request || !expected.includes(request.status)) return null;
    const now = ctx.now();
    const changes = build(request, now);
    if (!changes) return null;
    try {
      const updated = await ctx.requests.update(id, { status: request.status, version: request.version }, changes, now);
      if (changes.events && changes.events.length > 0) ctx.eventsQueued();
      return updated;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
  }
  throw new ConflictError(`request ${id} kept changing; giving up this pass (the sweeper will try again)`);
}

export function later(now: string, ms: number): string {
  return new Date(Date.parse(now) + ms).toISOString();
}

/** Asks the sweeper to look at the request again in `ms`. */
export async function reschedule(ctx: ServiceContext, id: string, ms: number): Promise<void> {
  await mutate(ctx, id, ['APPROVED', 'GRANTING', 'ACTIVE', 'REVOKING', 'FAILED'], (_r, now) => ({ due: later(now, ms) }));
}
