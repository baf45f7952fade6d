import { isFinal, transition, type AccessRequest, type AssignmentTarget } from '../domain/request.ts';
import { advance } from './advance.ts';
import { change } from './change.ts';
import type { ServiceContext } from './context.ts';
import { startRevoke } from './revoke.ts';
import { isStandingAccess } from './standing.ts';

/** What is left in Identity Center of one request's grant once everything settled. */
export type Leftover = { request: AccessRequest; kept: string } | { request: AccessRequest; remains: true };

export interface KillSwitchOutcome {
  settled: AccessRequest[];
  /** Still being removed when time ran out (the bot keeps retrying). */
  unsettled: AccessRequest[];
  leftovers: Leftover[];
  /** True when everything settled and Identity Center holds nothing breakglass granted. */
  clean: boolean;
}

/**
 * The kill switch: freezes breakglass (no submit, approval or grant is taken until it is lifted),
 * cancels every undecided request, revokes every grant (finishing the ones being granted first),
 * cleans up creations that were never confirmed, and then asks Identity Center whether anything
 * breakglass created remains. `flush` records what happened so far (the audit chain) between steps.
 */
export async function revokeEverything(ctx: ServiceContext, operator: string, reason: string, settleMs: number, flush: () => Promise<void>): Promise<KillSwitchOutcome> {
  const now = ctx.clock.now();
  await ctx.freeze.set({ by: operator, reason, at: now }, { type: 'freeze.set', requestId: null, actor: null, details: { operator, reason } });
  const live: AccessRequest[] = [];
  for (const item of await ctx.requests.due(null, 100_000)) {
    const r = await ctx.requests.get(item.id);
    if (r && (!isFinal(r.status) || r.grant.cleanupPending)) live.push(r);
  }
  await ctx.outbox.appendSystem([{ type: 'revoke_all.started', requestId: null, actor: null, details: { operator, reason, count: live.length } }], now);
  await flush();

  // Undecided requests, and approved ones not yet being granted, never become access.
  for (const r of live) {
    if (r.status === 'PENDING' || r.status === 'APPROVED') await cancelForFreeze(ctx, r.id, operator, reason);
  }

  const deadline = ctx.clock.ms() + settleMs;
  const settled = new Map<string, AccessRequest>();
  while (settled.size < live.length && ctx.clock.ms() < deadline) {
    for (const { id } of live) {
      if (settled.has(id)) continue;
      const r = await ctx.requests.get(id);
      if (!r) continue;
      if (r.status === 'ACTIVE') await startRevoke(ctx, id, 'revoke-all', null, { operator, note: reason });
      const fresh = (await ctx.requests.get(id)) ?? r;
      if (isFinal(fresh.status) && !fresh.grant.cleanupPending) {
        settled.set(id, fresh);
        continue;
      }
      // GRANTING finishes (or, under the freeze, fails before creating); REVOKING and cleanups go on.
      await advance(ctx, id);
    }
    await flush();
    if (settled.size < live.length) await ctx.clock.sleep(500);
  }

  const leftovers = await whatRemains(ctx, [...settled.values()]);
  const remaining = leftovers.filter((l) => 'remains' in l).map((l) => l.request.id);
  const unsettled = live.filter((r) => !settled.has(r.id));
  const revoked = [...settled.values()].filter((r) => r.status === 'REVOKED').length;
  await ctx.outbox.appendSystem(
    [{ type: 'revoke_all.finished', requestId: null, actor: null, details: { operator, reason, revoked, pending: unsettled.length, remaining } }],
    ctx.clock.now(),
  );
  await flush();
  return { settled: [...settled.values()], unsettled, leftovers, clean: unsettled.length === 0 && remaining.length === 0 };
}

async function cancelForFreeze(ctx: ServiceContext, id: string, operator: string, reason: string): Promise<void> {
  await change(ctx, id, ['PENDING', 'APPROVED'], (r, now) => ({
    set: { ...transition(r, 'CANCELLED'), decision: { by: operator, at: now, reason: `revoke-all: ${reason}` } },
    events: [{ type: 'request.cancelled', requestId: id, actor: null, details: { by: operator, reason: `revoke-all: ${reason}` } }],
    due: null,
  }));
}

/**
 * Asks Identity Center, for every request the kill switch settled, whether its assignment still
 * exists. One that does is fine only when the user held it before breakglass granted it (the
 * record says so, or the policy lists it as standing access); anything else remains.
 */
async function whatRemains(ctx: ServiceContext, settled: AccessRequest[]): Promise<Leftover[]> {
  const out: Leftover[] = [];
  const seen = new Map<string, boolean>();
  const key = (t: AssignmentTarget) => `${t.accountId}/${t.permissionSetArn}/${t.principalId}`;
  for (const r of settled) {
    const touched = r.grant.creationAttemptedAt !== null || r.grant.grantedAt !== null;
    if (!touched) continue;
    let present = seen.get(key(r.target));
    if (present === undefined) seen.set(key(r.target), (present = await ctx.ic.hasAssignment(r.target)));
    if (!present) continue;
    const record = await ctx.assignments.get(r.target);
    const kept = record.heldBefore ?? (isStandingAccess(ctx.policy, r) ? 'the policy lists it as standing access' : null);
    out.push(kept ? { request: r, kept } : { request: r, remains: true });
  }
  return out;
}

/** Lifts the kill switch's freeze; false when breakglass was not frozen. */
export async function liftFreeze(ctx: ServiceContext, operator: string, reason: string): Promise<boolean> {
  return ctx.freeze.lift(ctx.clock.now(), { type: 'freeze.lifted', requestId: null, actor: null, details: { operator, reason } });
}
