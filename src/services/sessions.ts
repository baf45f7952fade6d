import { randomUUID } from 'node:crypto';
import { addDuration } from '../domain/duration.ts';
import { mergeDenies, type SessionDeny } from '../domain/session-policy.ts';
import type { AssignmentTarget } from '../domain/request.ts';
import type { ServiceContext } from './context.ts';
import type { SessionDenyRecord } from './ports.ts';
import { pollUntilSettled } from './poll.ts';
import { withRenewedLock, type HeldLock } from './renewed-lock.ts';

/** Why sessions were not ended when access to `t` ended, or null when they must be. */
export async function sessionsKeptBecause(ctx: ServiceContext, profileId: string, t: AssignmentTarget): Promise<string | null> {
  const profile = ctx.policy.profiles.find((p) => p.id === profileId);
  if (profile && !profile.endSessions) return 'the profile does not end sessions (endSessions: false); sessions already open last until their own expiry';
  // The same permission set on the same account through a group: those sessions are the user's standing access.
  const groups = (await ctx.ic.listAssignments(t.instanceArn, t.accountId, t.permissionSetArn)).filter((a) => a.principalType === 'GROUP').map((a) => a.principalId);
  if (await ctx.ic.memberOfAny(t.principalId, groups)) return 'the user holds this permission set on the account through a group, so their sessions stay';
  return null;
}

/** `busy`: another holder is writing the permission set's policy now (it writes this wish too); try again soon. */
export type SessionsOutcome = { ended: true; combined: boolean } | { ended: false; busy: boolean; retry: string };

/**
 * Denies the user's sessions issued before `instant` (the moment their access was removed) in
 * the permission set's inline policy and provisions it to the account, waiting for Identity
 * Center to confirm. The wish is recorded first; whoever holds the permission set's lock writes
 * every wish at once (one edit and one provisioning for many revokes), and a revoke whose wish
 * someone else wrote is done. Safe to run again after a crash at any step.
 */
export async function endSessions(ctx: ServiceContext, t: AssignmentTarget, instant: string): Promise<SessionsOutcome> {
  const covers = (r: SessionDenyRecord) => {
    const d = r.denies[t.principalId];
    return d !== undefined && d.instant >= instant && d.accounts.includes(t.accountId);
  };
  await ctx.sessionDenies.want(t.permissionSetArn, t.principalId, instant, t.accountId);
  const locked = await withPermissionSetLock(ctx, t.permissionSetArn, async (held) => {
    if (covers(held.record)) return { ok: true as const, combined: false };
    const duration = await ctx.ic.sessionDuration(t.instanceArn, t.permissionSetArn);
    const denies = { ...held.record.denies };
    const accounts = new Set<string>([t.accountId]);
    for (const [userId, wish] of Object.entries(await ctx.sessionDenies.wanted(t.permissionSetArn))) {
      const had = denies[userId];
      const fresh = !had || had.instant < wish.instant || wish.accounts.some((a) => !had.accounts.includes(a));
      if (!fresh) continue;
      const newest = had && had.instant > wish.instant ? had.instant : wish.instant;
      denies[userId] = { instant: newest, until: addDuration(newest, duration), accounts: [...new Set([...(had?.accounts ?? []), ...wish.accounts])].sort() };
      for (const a of wish.accounts) accounts.add(a);
    }
    return rewrite(ctx, held, t.instanceArn, t.permissionSetArn, pruned(ctx, denies), [...accounts]);
  });
  if (!locked) {
    if (covers(await ctx.sessionDenies.get(t.permissionSetArn))) return { ended: true, combined: false };
    return { ended: false, busy: true, retry: 'another change of the permission set is in progress' };
  }
  return locked.value.ok ? { ended: true, combined: locked.value.combined } : { ended: false, busy: false, retry: locked.value.problem };
}

/**
 * Removes denials whose sessions have all expired (the permission set's session duration has
 * passed since their instant; never earlier) and provisions the permission set again to their accounts.
 */
export async function pruneSessionDenies(ctx: ServiceContext, permissionSetArn: string): Promise<void> {
  const instanceArn = ctx.policy.identityCenter.instanceArn;
  await withPermissionSetLock(ctx, permissionSetArn, async (held) => {
    const kept = pruned(ctx, held.record.denies);
    const gone = Object.keys(held.record.denies).filter((u) => !(u in kept));
    if (gone.length === 0) {
      held.handedOver();
      await save(ctx, held, permissionSetArn, kept);
      return;
    }
    const accounts = [...new Set(gone.flatMap((u) => held.record.denies[u]?.accounts ?? []))];
    const result = await rewrite(ctx, held, instanceArn, permissionSetArn, kept, accounts);
    if (result.ok) ctx.log.info({ event: 'sessions.pruned', permissionSetArn, users: gone.length }, 'removed denials whose sessions have all expired');
    else ctx.log.warn({ event: 'sessions.prune_failed', permissionSetArn, problem: result.problem }, 'could not remove expired denials; next sweep retries');
  });
}

function pruned(ctx: ServiceContext, denies: Record<string, SessionDeny>): Record<string, SessionDeny> {
  const now = ctx.clock.now();
  return Object.fromEntries(Object.entries(denies).filter(([, d]) => d.until > now));
}

/** Writes the inline policy with exactly these denials (if it changed), provisions it to the accounts, waits, then saves the record. */
async function rewrite(
  ctx: ServiceContext,
  held: HeldLock<SessionDenyRecord>,
  instanceArn: string,
  permissionSetArn: string,
  denies: Record<string, SessionDeny>,
  accounts: string[],
): Promise<{ ok: true; combined: boolean } | { ok: false; problem: string }> {
  const current = await ctx.ic.inlinePolicy(instanceArn, permissionSetArn);
  const merged = mergeDenies(current, denies);
  if (!merged.ok) return merged;
  if (merged.combined) ctx.log.warn({ event: 'sessions.combined', permissionSetArn }, 'one statement per user would not fit: one statement denies every listed user up to the newest instant');
  held.check();
  if ((merged.document ?? '') !== current) await ctx.ic.putInlinePolicy(instanceArn, permissionSetArn, merged.document);
  for (const accountId of accounts) {
    held.check();
    const requestId = await ctx.ic.provision(instanceArn, permissionSetArn, accountId);
    const status = await pollUntilSettled(ctx.clock, () => ctx.ic.provisioningStatus(instanceArn, requestId), ctx.clock.ms() + ctx.timing.pollRoundMs);
    if (status.state === 'FAILED') return { ok: false, problem: `Identity Center could not provision the permission set to ${accountId}: ${status.failureReason ?? 'no reason given'}` };
    if (status.state === 'IN_PROGRESS') return { ok: false, problem: `Identity Center has not finished provisioning the permission set to ${accountId} yet` };
  }
  held.handedOver();
  await save(ctx, held, permissionSetArn, denies);
  return { ok: true, combined: merged.combined };
}

async function save(ctx: ServiceContext, held: HeldLock<SessionDenyRecord>, permissionSetArn: string, denies: Record<string, SessionDeny>): Promise<void> {
  const pruneAt = Object.values(denies).map((d) => d.until).sort()[0] ?? null;
  if (!(await ctx.sessionDenies.saveAndUnlock(permissionSetArn, held.owner, { denies }, pruneAt))) {
    ctx.log.warn({ event: 'sessions.lock_lost', permissionSetArn }, 'the permission set lock was taken over before saving; the next pass re-reads the policy');
  }
}

function withPermissionSetLock<T>(ctx: ServiceContext, permissionSetArn: string, work: (held: HeldLock<SessionDenyRecord>) => Promise<T>): Promise<{ value: T } | null> {
  const port = {
    lock: (o: string, now: string, until: string) => ctx.sessionDenies.lock(permissionSetArn, o, now, until),
    renew: (o: string, until: string) => ctx.sessionDenies.renew(permissionSetArn, o, until),
    unlock: (o: string) => ctx.sessionDenies.unlock(permissionSetArn, o),
  };
  // One owner per holding, not per process: two revokes in one process must not both hold it.
  return withRenewedLock(ctx, port, `sessions:${ctx.owner}:${randomUUID()}`, 'a permission set', work);
}
