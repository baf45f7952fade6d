import { canTransition, IllegalTransition, type AccessRequest, type RequestStatus } from '../domain/request.ts';
import type { ServiceContext } from './context.ts';
import { ConflictError, type Changes } from './ports.ts';

const MAX_ATTEMPTS = 10;

/**
 * One guarded write of a change judged on `request`: the request as written, or null when another
 * writer changed it first. A status change must be one the request's lifecycle allows
 * (domain/request.ts), whoever builds it.
 */
export async function write(ctx: ServiceContext, request: AccessRequest, changes: Changes, now: string): Promise<AccessRequest | null> {
  const to = changes.set?.status;
  const moves = to !== undefined && to !== request.status;
  if (moves && !canTransition(request.status, to)) throw new IllegalTransition(request.status, to);
  // A lease is on the work of one status (claims name it): a status change ends it in the same write, unless it takes it for the work it starts.
  const applied = moves && changes.lease === undefined ? { ...changes, lease: null } : changes;
  let written: AccessRequest;
  try {
    written = await ctx.requests.update(request.id, { status: request.status, version: request.version }, applied, now);
  } catch (err) {
    if (err instanceof ConflictError) return null;
    throw err;
  }
  if (changes.events?.length) ctx.eventsQueued();
  if (typeof changes.due === 'string') ctx.workDue(request.id, changes.due);
  return written;
}

/**
 * Applies a change to a request that is in one of the expected states,
 * re-reading and re-deciding when another writer got there first. Returns
 * null when the request is gone, has moved on, or `build` has nothing to do.
 */
export async function change(
  ctx: ServiceContext,
  id: string,
  expected: readonly RequestStatus[],
  build: (request: AccessRequest, now: string) => Changes | null,
): Promise<AccessRequest | null> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const request = await ctx.requests.get(id);
    if (!request || !expected.includes(request.status)) return null;
    const now = ctx.clock.now();
    const changes = build(request, now);
    if (!changes) return null;
    const written = await write(ctx, request, changes, now);
    if (written) return written;
  }
  throw new ConflictError(`request ${id} kept changing; giving up this pass (the sweeper will try again)`);
}

export function later(now: string, ms: number): string {
  return new Date(Date.parse(now) + ms).toISOString();
}

/** Asks the sweeper to look at the request again in `ms`. */
export async function reschedule(ctx: ServiceContext, id: string, ms: number): Promise<void> {
  await change(ctx, id, ['APPROVED', 'GRANTING', 'ACTIVE', 'REVOKING', 'FAILED'], (_r, now) => ({ due: later(now, ms) }));
}
